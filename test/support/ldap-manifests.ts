// The Registry the LDAP tests log people in with: `main` in namespace `registry`, delegating
// "${namespace}/**" to every namespace, with slapd's directory over LDAPS (trusting its CA) and the bind
// Secret. Each test adds its own users and grants after it.
import { indentedPem } from './yaml-text.js';
import { LDAP_SERVICE_DN, LDAP_SERVICE_PASSWORD, LDAP_SUFFIX, type RunningSlapd } from '../../local/slapd.js';

/** Two documents, each ending in a newline, joined by `---`; `ldapSettings` are more lines of `ldap` (e.g. "cacheTTL: 3s"). */
export function ldapRegistryManifests(slapd: RunningSlapd, service: string, ldapSettings: readonly string[]): string {
  return `apiVersion: portcullis.dev/v1alpha1
kind: Registry
metadata: {name: main, namespace: registry}
spec:
  service: ${service}
  delegation:
    - namespaces: {from: All}
      repositories: ["\${namespace}/**"]
  authentication:
    ldap:
      url: ${slapd.ldapsUrl}
      certificateAuthority: |
${indentedPem(slapd.caPem, 8)}
      bindDN: ${LDAP_SERVICE_DN}
      bindPasswordSecretRef: {name: ldap-bind}
      userSearch: {baseDN: "ou=people,${LDAP_SUFFIX}"}
      groupSearch: {baseDN: "ou=groups,${LDAP_SUFFIX}", nested: true}
${ldapSettings.map((line) => `      ${line}\n`).join('')}---
apiVersion: v1
kind: Secret
metadata: {name: ldap-bind, namespace: registry}
stringData: {password: ${LDAP_SERVICE_PASSWORD}}
`;
}
