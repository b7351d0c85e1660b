// The harness uses the same local launchers as `portcullis demo` (local/tls.ts).
export * from '../../local/tls.js';
