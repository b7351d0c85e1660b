{{- /*
The bundled registry's storage settings (docs/storage.md), the same variables the operator sets for a
Registry's spec.storage. The image's own config.yml stores on the filesystem at /var/lib/registry, so
filesystem storage only names that directory; REGISTRY_STORAGE=s3 replaces the file's whole storage
section, so the S3 variables also restore its in-memory blob descriptor cache. Credentials stay in the
user's Secret: the pod names them.
*/}}
{{- define "portcullis.registry.s3" -}}
{{- if eq .Values.registry.storage.driver "s3" }}true{{ end -}}
{{- end }}

{{- define "portcullis.registry.storageEnv" -}}
{{- $s3 := .Values.registry.storage.s3 }}
{{- if include "portcullis.registry.s3" . }}
- name: REGISTRY_STORAGE
  value: s3
- name: REGISTRY_STORAGE_S3_BUCKET
  value: {{ required "registry.storage.s3.bucket is required with driver s3" $s3.bucket | quote }}
- name: REGISTRY_STORAGE_S3_REGION
  value: {{ $s3.region | quote }}
{{- with $s3.endpoint }}
- name: REGISTRY_STORAGE_S3_REGIONENDPOINT
  value: {{ . | quote }}
- name: REGISTRY_STORAGE_S3_SECURE
  value: {{ not (hasPrefix "http://" .) | quote }}
{{- end }}
- name: REGISTRY_STORAGE_S3_FORCEPATHSTYLE
  value: {{ $s3.forcePathStyle | quote }}
{{- with $s3.rootDirectory }}
- name: REGISTRY_STORAGE_S3_ROOTDIRECTORY
  value: {{ . | quote }}
{{- end }}
{{- with $s3.existingSecret }}
- name: REGISTRY_STORAGE_S3_ACCESSKEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $s3.accessKeyKey }}
- name: REGISTRY_STORAGE_S3_SECRETKEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $s3.secretKeyKey }}
{{- end }}
- name: REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR
  value: inmemory
{{- else }}
- name: REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY
  value: /var/lib/registry
{{- end }}
- name: REGISTRY_STORAGE_DELETE_ENABLED
  value: {{ .Values.registry.deleteEnabled | quote }}
{{- end }}
