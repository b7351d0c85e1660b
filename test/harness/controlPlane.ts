// The harness uses the same local launchers as `portcullis demo` (local/controlPlane.ts).
export * from '../../local/controlPlane.js';
