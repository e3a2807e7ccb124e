{{/* The chart's name, at most 63 characters. */}}
{{- define "gantry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's object name prefix, at most 52 characters so that the
suffixes (-agent, -tracker, -hosts) keep names within 63. */}}
{{- define "gantry.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "gantry.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gantry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select the release's pods (with app.kubernetes.io/component). */}}
{{- define "gantry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gantry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* An image reference from {repository, tag, digest}; what names the
values in errors is passed as "what". */}}
{{- define "gantry.imageRef" -}}
{{- $img := .image -}}
{{- if not $img.repository }}
{{- fail (printf "%s.repository is required: the registry and repository of the image (for gantry's own: make image, then push it)" .what) }}
{{- end }}
{{- if $img.digest }}
{{- if not (hasPrefix "sha256:" $img.digest) }}
{{- fail (printf "%s.digest %q: want sha256:<hex>" .what $img.digest) }}
{{- end }}
{{- if $img.tag }}
{{- printf "%s:%s@%s" $img.repository $img.tag $img.digest }}
{{- else }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- end }}
{{- else if $img.tag }}
{{- printf "%s:%s" $img.repository $img.tag }}
{{- else }}
{{- fail (printf "%s: give a tag or a digest" .what) }}
{{- end }}
{{- end }}

{{/* The tracker's URL as the agents reach it. The agents run in the host's
network namespace, with dnsPolicy ClusterFirstWithHostNet to resolve it. */}}
{{- define "gantry.trackerURL" -}}
{{- printf "http://%s-tracker.%s.svc:%d" (include "gantry.fullname" .) .Release.Namespace (int .Values.tracker.port) }}
{{- end }}

{{/* The upstreams, checked, as a list of dicts: url (no trailing /), dir
(the directory under containerd's certs.d, as image names spell the host),
name (a DNS label for the container), port, peerPort. Rendered as JSON;
read it with fromJson. */}}
{{- define "gantry.upstreams" -}}
{{- if not .Values.upstreams }}
{{- fail "upstreams is required: the URLs of the registries the agents mirror, e.g. --set 'upstreams={https://registry.example.com}'" }}
{{- end }}
{{- $out := list }}
{{- $seen := dict }}
{{- range $i, $raw := .Values.upstreams }}
{{- $url := trimSuffix "/" (toString $raw) }}
{{- $u := urlParse $url }}
{{- if or (not (has $u.scheme (list "http" "https"))) (not $u.host) }}
{{- fail (printf "upstreams[%d] %q: want an http:// or https:// URL" $i $raw) }}
{{- end }}
{{- if not (regexMatch "^[A-Za-z0-9.-]+(:[0-9]+)?$" $u.host) }}
{{- fail (printf "upstreams[%d] %q: want a host name or IPv4 address, and a port if any" $i $raw) }}
{{- end }}
{{- $dir := $u.host }}
{{- if has $u.host (list "registry-1.docker.io" "index.docker.io") }}
{{- $dir = "docker.io" }}
{{- end }}
{{- if hasKey $seen $dir }}
{{- fail (printf "upstreams[%d] %q: %s is mirrored twice" $i $raw $dir) }}
{{- end }}
{{- $_ := set $seen $dir true }}
{{- $name := printf "agent-%s" ($dir | replace "." "-" | replace ":" "-") | lower | trunc 63 | trimSuffix "-" }}
{{- $out = append $out (dict "url" $url "dir" $dir "name" $name "index" $i "port" (add (int $.Values.agent.port) (mul 2 $i)) "peerPort" (add (int $.Values.agent.peerPort) (mul 2 $i))) }}
{{- end }}
{{- toJson (dict "list" $out) }}
{{- end }}

{{/* gantry serve's config file (serve.auth, serve.quotas, serve.mirror,
serve.mirror-ttl) from registry.auth, registry.quotas and registry.mirror,
checked; "" when none is set. Mirror passwords are files of the
credentialsSecret volume, never in the ConfigMap. */}}
{{- define "gantry.registryConfig" -}}
{{- $reg := .Values.registry }}
{{- $serve := dict }}
{{- if $reg.auth.config }}
{{- if not $reg.auth.htpasswdSecret }}
{{- fail "registry.auth.config says who may do what, but no registry.auth.htpasswdSecret says who is who: give the Secret of the htpasswd file" }}
{{- end }}
{{- $_ := set $serve "auth" $reg.auth.config }}
{{- end }}
{{- with $reg.quotas }}
{{- $_ := set $serve "quotas" . }}
{{- end }}
{{- if $reg.mirror.upstreams }}
{{- $ups := list }}
{{- range $i, $u := $reg.mirror.upstreams }}
{{- if not $u.upstream }}
{{- fail (printf "registry.mirror.upstreams[%d]: upstream (the registry's URL) is required" $i) }}
{{- end }}
{{- $e := dict "upstream" $u.upstream }}
{{- with $u.prefix }}{{ $_ := set $e "prefix" . }}{{ end }}
{{- if $u.passwordKey }}
{{- if not $reg.mirror.credentialsSecret }}
{{- fail (printf "registry.mirror.upstreams[%d]: passwordKey %q names a key of registry.mirror.credentialsSecret, which is not set" $i $u.passwordKey) }}
{{- end }}
{{- if not $u.username }}
{{- fail (printf "registry.mirror.upstreams[%d]: passwordKey without a username" $i) }}
{{- end }}
{{- $_ := set $e "password-file" (printf "/etc/gantry/mirror/%s" $u.passwordKey) }}
{{- end }}
{{- with $u.username }}{{ $_ := set $e "username" . }}{{ end }}
{{- $ups = append $ups $e }}
{{- end }}
{{- $_ := set $serve "mirror" $ups }}
{{- with $reg.mirror.ttl }}{{ $_ := set $serve "mirror-ttl" . }}{{ end }}
{{- else if or $reg.mirror.credentialsSecret $reg.mirror.caSecret $reg.mirror.ttl }}
{{- fail "registry.mirror: credentialsSecret, caSecret and ttl go with registry.mirror.upstreams, which is empty" }}
{{- end }}
{{- if $serve }}
{{- toYaml (dict "serve" $serve) }}
{{- end }}
{{- end }}

{{/* The agent pods' affinity: agent.affinity, and with agent.leaves.nodeLabel
a node selector term on that label in each of its required terms (the
terms are alternatives; the label's must hold in every one): In "true" for
the leaf nodes' DaemonSet (.leaf), NotIn "true" for the other, which a
node without the label passes. Empty if there is neither. */}}
{{- define "gantry.agentAffinity" -}}
{{- $aff := deepCopy (.root.Values.agent.affinity | default dict) }}
{{- with .root.Values.agent.leaves.nodeLabel }}
{{- $expr := dict "key" . "operator" (ternary "In" "NotIn" $.leaf) "values" (list "true") }}
{{- $node := get $aff "nodeAffinity" | default dict }}
{{- $req := get $node "requiredDuringSchedulingIgnoredDuringExecution" | default dict }}
{{- $terms := list }}
{{- range (get $req "nodeSelectorTerms" | default (list dict)) }}
{{- $term := deepCopy . }}
{{- $_ := set $term "matchExpressions" (append (get $term "matchExpressions" | default list) $expr) }}
{{- $terms = append $terms $term }}
{{- end }}
{{- $_ := set $req "nodeSelectorTerms" $terms }}
{{- $_ := set $node "requiredDuringSchedulingIgnoredDuringExecution" $req }}
{{- $_ := set $aff "nodeAffinity" $node }}
{{- end }}
{{- if $aff }}
{{- toYaml $aff }}
{{- end }}
{{- end }}
