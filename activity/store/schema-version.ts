// Both stores create their tables on open and record which version of the layout they made, in a
// one-row table. A store applies the steps it knows beyond the recorded version, inside the same
// transaction that reads it, and refuses a database a newer release has already moved past.

export const SCHEMA_VERSION_TABLE = 'activity_schema_version';

/** The steps (each a list of statements) still to run on a database at version `current`. */
export function pendingSchemaSteps(current: number, steps: readonly (readonly string[])[]): readonly (readonly string[])[] {
  if (!Number.isSafeInteger(current) || current < 0) throw new Error(`the event database records schema version ${String(current)}, which is not a version`);
  if (current > steps.length) {
    throw new Error(
      `the event database has schema version ${current}, newer than the ${steps.length} this Portcullis knows: it was written by a newer release`,
    );
  }
  return steps.slice(current);
}
