// The harness uses the same request helper as `portcullis demo` (local/https.ts).
export * from '../../local/https.js';
