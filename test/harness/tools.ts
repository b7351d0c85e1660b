// The harness uses the same local launchers as `portcullis demo` (local/tools.ts).
export * from '../../local/tools.js';
