// The harness uses the same local launchers as `portcullis demo` (local/pki.ts).
export * from '../../local/pki.js';
