// The harness uses the same local launchers as `portcullis demo` (local/registry.ts).
export * from '../../local/registry.js';
