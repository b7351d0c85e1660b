// Text to splice into YAML written as template strings in tests.

/** A PEM as the lines of a YAML block scalar indented by `spaces`. */
export function indentedPem(pem: string, spaces: number): string {
  const indent = ' '.repeat(spaces);
  return pem
    .trim()
    .split('\n')
    .map((l) => `${indent}${l}`)
    .join('\n');
}
