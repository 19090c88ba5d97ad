{{/* Names, labels, and what every pod shares: settings, secrets, volumes, security context, sizing. */}}

{{- define "platestream.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "platestream.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one role: (dict "root" $ "role" "worker") */}}
{{- define "platestream.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "platestream.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "platestream.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "platestream.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{- define "platestream.consumerGroup" -}}
{{- default (printf "%sworker" .Values.kafka.topicPrefix) .Values.keda.consumerGroup -}}
{{- end -}}

{{/*
Memory request of a worker in MiB (docs/performance.md, Memory budget):
  baseMiB + hotlistEntries x (bytesPerHotlistEntry + bytesPerHotlistEntryReload) + dedupEntries x bytesPerDedupEntry
rounded up to a whole MiB. A reload of the whole list holds the old list and builds the new one, hence both terms.
*/}}
{{- define "platestream.workerMemoryMiB" -}}
{{- $s := .Values.worker.sizing -}}
{{- $mib := 1048576 -}}
{{- $hot := mul (int64 $s.hotlistEntries) (add (int64 $s.bytesPerHotlistEntry) (int64 $s.bytesPerHotlistEntryReload)) -}}
{{- $dedup := mul (int64 $s.dedupEntries) (int64 $s.bytesPerDedupEntry) -}}
{{- $bytes := add (mul (int64 $s.baseMiB) $mib) $hot $dedup -}}
{{- div (add $bytes (sub $mib 1)) $mib -}}
{{- end -}}

{{- define "platestream.workerMemoryLimitMiB" -}}
{{- $req := int64 (include "platestream.workerMemoryMiB" .) -}}
{{- div (add (mul $req (int64 .Values.worker.sizing.limitPercent)) 99) 100 -}}
{{- end -}}

{{/* Where the init container puts the private copies of the mounted secrets (mode 0600, memory-backed). */}}
{{- define "platestream.secretsDir" -}}/run/platestream/secrets{{- end -}}

{{/* settings.yaml: the operator's `config` and what the chart sets itself (addresses, ports, paths). */}}
{{- define "platestream.settings" -}}
{{- $v := .Values -}}
{{- $sec := include "platestream.secretsDir" . -}}
{{- $s := dict
  "kafka_bootstrap" $v.kafka.bootstrap
  "topic_prefix" $v.kafka.topicPrefix
  "partitions" (int $v.kafka.partitions)
  "kafka_security_protocol" $v.kafka.securityProtocol
  "web_host" "0.0.0.0"
  "web_port" (int $v.worker.webPort)
  "api_host" "0.0.0.0"
  "api_port" (int $v.api.port)
  "chdb_path" "/data/chdb"
  "audit_checkpoint_dir" "/data/audit-checkpoints"
  "policy_path" "/etc/platestream/policies/default.yaml"
  "access_path" "/etc/platestream/policies/access.yaml"
  "search_policy_path" "/etc/platestream/policies/search.yaml"
  "hit_review_path" "/etc/platestream/policies/hit_review.yaml"
-}}
{{- if hasPrefix "SASL" $v.kafka.securityProtocol }}{{ $_ := set $s "kafka_sasl_mechanism" $v.kafka.sasl.mechanism }}{{ end -}}
{{- if hasSuffix "SSL" $v.kafka.securityProtocol }}{{ $_ := set $s "kafka_ssl_cafile" (printf "%s/kafka-ca/ca.crt" $sec) }}{{ end -}}
{{- if $v.kafka.tls.clientSecretName -}}
{{- $_ := set $s "kafka_ssl_certfile" (printf "%s/kafka-client/tls.crt" $sec) -}}
{{- $_ := set $s "kafka_ssl_keyfile" (printf "%s/kafka-client/tls.key" $sec) -}}
{{- end -}}
{{- if $v.secrets.plateKeys.secretName }}{{ $_ := set $s "plate_keys_file" (printf "%s/plate-keys/plate_keys" $sec) }}{{ end -}}
{{- if $v.secrets.controlPublicKeys.secretName }}{{ $_ := set $s "control_keys_file" (printf "%s/control-keys/control_keys.pub" $sec) }}{{ end -}}
{{- if $v.secrets.audit.secretName -}}
{{- $_ := set $s "audit_signing_key_file" (printf "%s/audit/audit.key" $sec) -}}
{{- $_ := set $s "audit_keys_file" (printf "%s/audit/audit_keys.pub" $sec) -}}
{{- end -}}
{{- if $v.auditSequencer.enabled }}{{ $_ := set $s "audit_via_kafka" true }}{{ end -}}
{{- if $v.clickhouse.cluster }}{{ $_ := set $s "clickhouse_cluster" $v.clickhouse.cluster }}{{ end -}}
{{- if $v.policies.retention }}{{ $_ := set $s "retention" "/etc/platestream/policies/retention.yaml" }}{{ end -}}
{{- toYaml (merge $s $v.config) -}}
{{- end -}}

{{/* Environment of every container of a role: (dict "root" $ "role" "worker") */}}
{{- define "platestream.env" -}}
{{- $v := .root.Values -}}
- name: PLATESTREAM_CONFIG
  value: /etc/platestream/settings/settings.yaml
- name: HOME
  value: /tmp
- name: NUMBA_CACHE_DIR
  value: /cache/numba
{{- if hasPrefix "SASL" $v.kafka.securityProtocol }}
- name: PLATESTREAM_KAFKA_SASL_USERNAME
  valueFrom: {secretKeyRef: {name: {{ $v.kafka.sasl.secretName | quote }}, key: {{ $v.kafka.sasl.usernameKey | quote }}}}
- name: PLATESTREAM_KAFKA_SASL_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ $v.kafka.sasl.secretName | quote }}, key: {{ $v.kafka.sasl.passwordKey | quote }}}}
{{- end }}
{{- if $v.clickhouse.url }}
{{- if $v.clickhouse.credentialsSecret.name }}
{{- $u := urlParse $v.clickhouse.url }}
- name: CLICKHOUSE_USER
  valueFrom: {secretKeyRef: {name: {{ $v.clickhouse.credentialsSecret.name | quote }}, key: {{ $v.clickhouse.credentialsSecret.usernameKey | quote }}}}
- name: CLICKHOUSE_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ $v.clickhouse.credentialsSecret.name | quote }}, key: {{ $v.clickhouse.credentialsSecret.passwordKey | quote }}}}
- name: CLICKHOUSE_URL
  value: {{ printf "%s://$(CLICKHOUSE_USER):$(CLICKHOUSE_PASSWORD)@%s%s" $u.scheme $u.host $u.path | quote }}
{{- else }}
- name: CLICKHOUSE_URL
  value: {{ $v.clickhouse.url | quote }}
{{- end }}
{{- end }}
{{- if and (eq .role "worker") $v.clickhouse.url }}
# The migrate Job and the purge CronJob maintain the server's schema and retention, not every worker.
- name: PLATESTREAM_STORE_MAINTENANCE
  value: "false"
{{- end }}
{{- if and (eq .role "api") $v.secrets.controlSigningKey.secretName }}
- name: PLATESTREAM_CONTROL_SIGNING_KEY_FILE
  value: {{ include "platestream.secretsDir" .root }}/control-signing/control.key
{{- end }}
{{- if eq .role "api" }}
{{- with $v.api.auth }}
{{- if or .jwksUrl .jwksSecretName }}
- name: PLATESTREAM_AUTH_JWKS
  value: {{ ternary (printf "%s/jwks/jwks.json" (include "platestream.secretsDir" $.root)) .jwksUrl (not (empty .jwksSecretName)) | quote }}
{{- end }}
{{- if .issuer }}
- name: PLATESTREAM_AUTH_ISSUER
  value: {{ .issuer | quote }}
{{- end }}
{{- if .audience }}
- name: PLATESTREAM_AUTH_AUDIENCE
  value: {{ .audience | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The Secrets a role mounts: list of (mount dir, secret name, items key->path). */}}
{{- define "platestream.secretVolumes" -}}
{{- $v := .root.Values -}}
{{- $role := .role -}}
{{- if hasSuffix "SSL" $v.kafka.securityProtocol }}
- name: secret-kafka-ca
  secret: {secretName: {{ $v.kafka.tls.caSecretName | quote }}, defaultMode: 0440, items: [{key: {{ $v.kafka.tls.caKey | quote }}, path: ca.crt}]}
{{- end }}
{{- if $v.kafka.tls.clientSecretName }}
- name: secret-kafka-client
  secret: {secretName: {{ $v.kafka.tls.clientSecretName | quote }}, defaultMode: 0440, items: [{key: {{ $v.kafka.tls.certKey | quote }}, path: tls.crt}, {key: {{ $v.kafka.tls.keyKey | quote }}, path: tls.key}]}
{{- end }}
{{- if $v.secrets.plateKeys.secretName }}
- name: secret-plate-keys
  secret: {secretName: {{ $v.secrets.plateKeys.secretName | quote }}, defaultMode: 0440, items: [{key: {{ $v.secrets.plateKeys.key | quote }}, path: plate_keys}]}
{{- end }}
{{- if $v.secrets.controlPublicKeys.secretName }}
- name: secret-control-keys
  secret: {secretName: {{ $v.secrets.controlPublicKeys.secretName | quote }}, defaultMode: 0440, items: [{key: {{ $v.secrets.controlPublicKeys.key | quote }}, path: control_keys.pub}]}
{{- end }}
{{- if and (eq $role "api") $v.secrets.controlSigningKey.secretName }}
- name: secret-control-signing
  secret: {secretName: {{ $v.secrets.controlSigningKey.secretName | quote }}, defaultMode: 0440, items: [{key: {{ $v.secrets.controlSigningKey.key | quote }}, path: control.key}]}
{{- end }}
{{- if $v.secrets.audit.secretName }}
- name: secret-audit
  secret: {secretName: {{ $v.secrets.audit.secretName | quote }}, defaultMode: 0440, items: [{key: {{ printf "%s.key" $role | quote }}, path: audit.key}, {key: {{ $v.secrets.audit.publicKeysKey | quote }}, path: audit_keys.pub}]}
{{- end }}
{{- if and (eq $role "api") $v.api.auth.jwksSecretName }}
- name: secret-jwks
  secret: {secretName: {{ $v.api.auth.jwksSecretName | quote }}, defaultMode: 0440, items: [{key: {{ $v.api.auth.jwksKey | quote }}, path: jwks.json}]}
{{- end }}
{{- end -}}

{{/* Volumes of a pod: settings, policies, scratch space, and the role's Secrets. */}}
{{- define "platestream.volumes" -}}
- name: settings
  configMap: {name: {{ include "platestream.fullname" .root }}-{{ .configs | default "" }}settings}
- name: policies
  configMap: {name: {{ include "platestream.fullname" .root }}-{{ .configs | default "" }}policies}
- name: data
  emptyDir: {}
- name: cache
  emptyDir: {}
- name: tmp
  emptyDir: {}
- name: private
  emptyDir: {medium: Memory, sizeLimit: 1Mi}
{{- include "platestream.secretVolumes" . }}
{{- end -}}

{{- define "platestream.volumeMounts" -}}
- {name: settings, mountPath: /etc/platestream/settings, readOnly: true}
- {name: policies, mountPath: /etc/platestream/policies, readOnly: true}
- {name: data, mountPath: /data}
- {name: cache, mountPath: /cache}
- {name: tmp, mountPath: /tmp}
- {name: private, mountPath: {{ include "platestream.secretsDir" .root }}, readOnly: true}
{{- end -}}

{{/*
Init container: copies every mounted Secret file into a memory-backed folder with mode 0600. The processes refuse a
private key file that group or others may read (streams/config/secret_files.py), and Kubernetes mounts Secrets
group-readable when the pod has an fsGroup, so the files are read from their copies.
*/}}
{{- define "platestream.initSecrets" -}}
- name: private-files
  image: {{ include "platestream.image" .root }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  command: ["/bin/sh", "-ec"]
  args:
    - |
      umask 077
      cd /etc/platestream/secrets-ro
      for f in */*; do
        [ -e "$f" ] || continue
        mkdir -p "{{ include "platestream.secretsDir" .root }}/${f%/*}"
        cp -L "$f" "{{ include "platestream.secretsDir" .root }}/$f"
      done
  securityContext:
    {{- include "platestream.containerSecurity" .root | nindent 4 }}
  resources:
    requests: {cpu: 10m, memory: 16Mi}
    limits: {memory: 32Mi}
  volumeMounts:
    - {name: private, mountPath: {{ include "platestream.secretsDir" .root }}}
{{- include "platestream.secretMounts" . | nindent 4 }}
{{- end -}}

{{- define "platestream.secretMounts" -}}
{{- range $vol := (include "platestream.secretVolumes" . | fromYamlArray) }}
- {name: {{ $vol.name }}, mountPath: /etc/platestream/secrets-ro/{{ trimPrefix "secret-" $vol.name }}, readOnly: true}
{{- end }}
{{- end -}}

{{- define "platestream.podSecurity" -}}
runAsNonRoot: true
runAsUser: {{ .Values.uid }}
runAsGroup: {{ .Values.gid }}
fsGroup: {{ .Values.gid }}
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "platestream.containerSecurity" -}}
runAsNonRoot: true
runAsUser: {{ .Values.uid }}
runAsGroup: {{ .Values.gid }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities: {drop: [ALL]}
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{/* Checks the schema cannot express; rendered by every template through the settings ConfigMap. */}}
{{- define "platestream.validate" -}}
{{- $v := .Values -}}
{{- if and $v.keda.enabled (gt (int $v.keda.maxReplicaCount) (int $v.kafka.partitions)) -}}
{{- fail (printf "keda.maxReplicaCount (%d) exceeds kafka.partitions (%d): workers beyond the partition count sit idle" (int $v.keda.maxReplicaCount) (int $v.kafka.partitions)) -}}
{{- end -}}
{{- if and (not $v.keda.enabled) (gt (int $v.worker.replicas) (int $v.kafka.partitions)) -}}
{{- fail (printf "worker.replicas (%d) exceeds kafka.partitions (%d)" (int $v.worker.replicas) (int $v.kafka.partitions)) -}}
{{- end -}}
{{- if and $v.keda.enabled (gt (int $v.keda.minReplicaCount) (int $v.keda.maxReplicaCount)) -}}
{{- fail "keda.minReplicaCount exceeds keda.maxReplicaCount" -}}
{{- end -}}
{{- if and $v.clickhouse.cluster (not $v.clickhouse.url) -}}
{{- fail "clickhouse.cluster needs a ClickHouse server (clickhouse.url)" -}}
{{- end -}}
{{- if and $v.clickhouse.url (not $v.cronJobs.purge.enabled) -}}
{{- fail "cronJobs.purge.enabled is false with a ClickHouse server: the workers do not purge it, so nothing would (to stop deletion in a drill, set config.purge: false)" -}}
{{- end -}}
{{- if and (not $v.clickhouse.url) (or $v.keda.enabled (gt (int $v.worker.replicas) 1)) -}}
{{- fail "more than one worker needs a ClickHouse server (clickhouse.url): an embedded store belongs to one process" -}}
{{- end -}}
{{- end -}}

{{/*
The pod spec every role shares: (dict "root" $ "role" "worker" "args" (list ...) "ports" (list ...) "resources" ...
"probes" "..." "grace" 60 "restartPolicy" "Never" "configs" "migrate-" "extraEnv" (list) "extraVolumes" "..."
"extraMounts" "..." "command" (list ...)). Security context, secrets copied to private files, scratch volumes,
settings and policies.
*/}}
{{- define "platestream.podSpec" -}}
{{- $v := .root.Values -}}
serviceAccountName: {{ include "platestream.serviceAccount" .root }}
automountServiceAccountToken: false
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .restartPolicy }}
restartPolicy: {{ . }}
{{- end }}
{{- with .grace }}
terminationGracePeriodSeconds: {{ . }}
{{- end }}
securityContext:
  {{- include "platestream.podSecurity" .root | nindent 2 }}
{{- if include "platestream.secretVolumes" . | trim }}
initContainers:
  {{- include "platestream.initSecrets" . | nindent 2 }}
{{- end }}
containers:
  - name: {{ .role }}
    image: {{ include "platestream.image" .root }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    {{- with .command }}
    command:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    args:
      {{- toYaml .args | nindent 6 }}
    env:
      {{- include "platestream.env" . | nindent 6 }}
      {{- with .extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- with .ports }}
    ports:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .probes }}
    {{- . | nindent 4 }}
    {{- end }}
    resources:
      {{- toYaml .resources | nindent 6 }}
    securityContext:
      {{- include "platestream.containerSecurity" .root | nindent 6 }}
    volumeMounts:
      {{- include "platestream.volumeMounts" . | nindent 6 }}
      {{- with .extraMounts }}
      {{- . | nindent 6 }}
      {{- end }}
volumes:
  {{- include "platestream.volumes" . | nindent 2 }}
  {{- with .extraVolumes }}
  {{- . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Liveness, readiness and start-up probes on /livez and /readyz of a named port. */}}
{{- define "platestream.probes" -}}
startupProbe:
  httpGet: {path: /livez, port: {{ .port }}}
  periodSeconds: 5
  failureThreshold: {{ div (int .startupSeconds) 5 }}
livenessProbe:
  httpGet: {path: /livez, port: {{ .port }}}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: {{ .port }}}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}
