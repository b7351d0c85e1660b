// The harness uses the same local launchers as `portcullis demo` (local/process.ts).
export * from '../../local/process.js';
