// Generates docs/crd-reference.md from the CRD schemas, so the reference can never say something the
// API server does not enforce. `node dist/crds/reference.js > docs/crd-reference.md` regenerates it;
// reference.test.ts fails when the committed file is stale.
import { CRD_KINDS, crdSchema, loadCrd, type StructuralSchema } from './schema.js';

function typeOf(s: StructuralSchema): string {
  if (s.type === 'array') return `[]${s.items ? typeOf(s.items) : 'any'}`;
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object') return `map[string]${typeOf(s.additionalProperties)}`;
  return s.type ?? (s['x-kubernetes-preserve-unknown-fields'] ? 'any' : 'object');
}

function constraints(s: StructuralSchema): string {
  const out: string[] = [];
  if (s.enum) out.push(`one of ${s.enum.map((e) => `\`${String(e)}\``).join(', ')}`);
  if (s.default !== undefined) out.push(`default \`${JSON.stringify(s.default)}\``);
  if (s.minLength !== undefined) out.push(`min length ${s.minLength}`);
  if (s.maxLength !== undefined) out.push(`max length ${s.maxLength}`);
  if (s.minItems !== undefined) out.push(`min items ${s.minItems}`);
  if (s.maxItems !== undefined) out.push(`max items ${s.maxItems}`);
  if (s.minimum !== undefined) out.push(`minimum ${s.minimum}`);
  if (s.maximum !== undefined) out.push(`maximum ${s.maximum}`);
  for (const v of s['x-kubernetes-validations'] ?? []) if (v.message) out.push(`rule: ${v.message}`);
  return out.join('; ');
}

const cell = (text: string): string =>
  text
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ')
    .trim();

function rows(s: StructuralSchema, path: string, required: boolean, out: string[]): void {
  out.push(`| \`${path}\` | ${typeOf(s)} | ${required ? 'yes' : ''} | ${cell(s.description ?? '')}${constraints(s) ? ` (${cell(constraints(s))})` : ''} |`);
  const child = s.type === 'array' ? s.items : s;
  const prefix = s.type === 'array' ? `${path}[]` : path;
  for (const [name, prop] of Object.entries(child?.properties ?? {})) {
    rows(prop, `${prefix}.${name}`, (child?.required ?? []).includes(name), out);
  }
}

export function crdReference(): string {
  const out = [
    '# CRD reference',
    '',
    '<!-- Generated from crds/*.yaml by crds/reference.ts; do not edit by hand. -->',
    '',
    'Group `portcullis.dev`, version `v1alpha1`. Every field below is also shown by `kubectl explain`.',
    '',
  ];
  for (const kind of CRD_KINDS) {
    const crd = loadCrd(kind);
    const schema = crdSchema(kind);
    const names = (crd.spec as { names?: { shortNames?: string[]; categories?: string[] } }).names ?? {};
    out.push(`## ${kind}`, '');
    if (schema.description) out.push(cell(schema.description), '');
    out.push(
      `Short names: ${(names.shortNames ?? []).map((n) => `\`${n}\``).join(', ') || 'none'}; ` +
        `categories: ${(names.categories ?? []).map((n) => `\`${n}\``).join(', ') || 'none'}.`,
      '',
    );
    for (const v of schema['x-kubernetes-validations'] ?? []) if (v.message) out.push(`- Rule: ${cell(v.message)}`);
    out.push('', '| field | type | required | description |', '| --- | --- | --- | --- |');
    for (const top of ['spec', 'status'] as const) {
      const s = schema.properties?.[top];
      if (s) rows(s, top, (schema.required ?? []).includes(top), out);
    }
    out.push('');
  }
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n')}\n`;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  process.stdout.write(crdReference());
}
