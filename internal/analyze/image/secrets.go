package image

import (
	"bytes"
	"path"
	"regexp"
	"strings"
)

// secretFile is a secret-looking file found in a layer.
type secretFile struct {
	path  string
	why   string
	size  int64
	layer int
}

// secretHead is how much of a candidate file is read to decide.
const secretHead = 64 << 10

// credentialFiles are files whose presence alone gives credentials away,
// by path suffix.
var credentialFiles = map[string]string{
	".aws/credentials": "AWS credentials file",
	".config/gcloud/application_default_credentials.json": "Google Cloud credentials",
	".config/gcloud/credentials.db":                       "Google Cloud credentials",
	".azure/accessTokens.json":                            "Azure access tokens",
	".azure/msal_token_cache.json":                        "Azure token cache",
	".kube/config":                                        "Kubernetes client config",
	".git-credentials":                                    "git credentials",
	".netrc":                                              "netrc credentials",
	".docker/config.json":                                 "docker client config",
	".npmrc":                                              "npm config",
	".pypirc":                                             "PyPI config",
}

// secretName classifies a path: the kind of secret it may hold ("" for
// none) and whether its content must be read to decide.
func secretName(p string) (kind string, needHead bool) {
	// The name decides first: it is cheaper than a look at every component.
	if kind, needHead = secretCandidate(p); kind == "" || inTestTree(p) {
		return "", false
	}
	return kind, needHead
}

// secretCandidate classifies a path by its name and suffix alone.
func secretCandidate(p string) (kind string, needHead bool) {
	base := path.Base(p)
	switch {
	case base == "id_rsa" || base == "id_dsa" || base == "id_ecdsa" || base == "id_ed25519":
		return "key", true
	case strings.HasSuffix(base, ".pem") || strings.HasSuffix(base, ".key"):
		return "key", true
	case base == ".env" || (strings.HasPrefix(base, ".env.") && !strings.Contains(base, "example") && !strings.Contains(base, "sample") && !strings.Contains(base, "template") && !strings.Contains(base, "dist")):
		return "env", true
	}
	for suffix, what := range credentialFiles {
		if strings.HasSuffix(p, suffix) && (len(p) == len(suffix) || p[len(p)-len(suffix)-1] == '/') {
			switch suffix {
			case ".npmrc", ".pypirc", ".docker/config.json":
				return what, true
			}
			return what, false
		}
	}
	return "", false
}

// inTestTree reports paths under test fixtures and documentation, where
// keys are samples.
func inTestTree(p string) bool {
	for c := range strings.SplitSeq(p, "/") {
		switch c {
		case "test", "tests", "testdata", "fixtures", "__tests__", "doc", "docs", "examples":
			return true
		}
	}
	return false
}

var (
	privateKeyRE = regexp.MustCompile(`-----BEGIN ((RSA|DSA|EC|OPENSSH|ENCRYPTED) )?PRIVATE KEY-----`)
	envSecretRE  = regexp.MustCompile(`(?im)^\s*(export\s+)?[A-Z0-9_]*(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?)[A-Z0-9_]*\s*=\s*\S+`)
)

// secretContent decides from a file's head whether it holds a secret,
// and says why ("" when it does not).
func secretContent(kind string, head []byte) string {
	switch kind {
	case "key":
		if privateKeyRE.Match(head) {
			return "private key"
		}
		return ""
	case "env":
		if envSecretRE.Match(head) {
			return ".env file with secret-looking variables"
		}
		return ""
	case "npm config":
		if bytes.Contains(head, []byte("_authToken")) || bytes.Contains(head, []byte("_auth=")) {
			return "npm config with an auth token"
		}
		return ""
	case "PyPI config":
		if bytes.Contains(head, []byte("password")) {
			return "PyPI config with a password"
		}
		return ""
	case "docker client config":
		if bytes.Contains(head, []byte(`"auth"`)) || bytes.Contains(head, []byte(`"identitytoken"`)) {
			return "docker client config with registry credentials"
		}
		return ""
	}
	return kind
}

// Secret patterns for config ENV values and history.
var (
	secretKeyRE = regexp.MustCompile(`(?i)(password|passwd|pwd|secret|token|api_?key|access_?key|private_?key|credential|auth)`)
	// Values that are references, not secrets.
	notSecretValueRE = regexp.MustCompile(`^(/|\$|\{\{|file:|https?://[^:@]*$)|_(FILE|PATH|DIR|URL)$`)
	tokenRE          = regexp.MustCompile(`\b(AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}|glpat-[A-Za-z0-9_-]{20}|xox[baprs]-[A-Za-z0-9-]{10,}|sk_live_[A-Za-z0-9]{20,}|AIza[0-9A-Za-z_-]{35}|npm_[A-Za-z0-9]{36})\b|-----BEGIN [A-Z ]*PRIVATE KEY-----`)
	assignRE         = regexp.MustCompile(`\b([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|[^\s;&|]+)`)
)

// secretAssignment reports whether KEY=value looks like a secret: a
// secret-sounding key with a literal value, or a value shaped like a known
// token.
func secretAssignment(key, value string) bool {
	value = strings.Trim(value, `"'`)
	if tokenRE.MatchString(value) {
		return true
	}
	if value == "" || len(value) < 4 || !secretKeyRE.MatchString(key) {
		return false
	}
	if notSecretValueRE.MatchString(value) || notSecretValueRE.MatchString(key) {
		return false
	}
	switch strings.ToLower(value) {
	case "true", "false", "none", "null", "changeme", "xxx", "<secret>":
		return false
	}
	return true
}

// redact shows the start of a secret only.
func redact(v string) string {
	v = strings.Trim(v, `"'`)
	if len(v) <= 4 {
		return "****"
	}
	return v[:min(3, len(v)/4)] + "****"
}
