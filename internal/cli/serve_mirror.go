package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/gantry-dev/gantry/internal/atomicfile"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/pullthrough"
	"github.com/spf13/cobra"
)

// mirrorFlag is gantry serve's --mirror: upstreams given one per flag
// ("URL" or "PREFIX=URL"), or as the config file's list of objects (which
// reaches the flag as JSON).
type mirrorFlag struct {
	upstreams []pullthrough.Upstream
}

// mirrorEntry is one upstream as the config file spells it.
type mirrorEntry struct {
	Prefix       string `json:"prefix"`
	Upstream     string `json:"upstream"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	PasswordFile string `json:"password-file"`
	DockerConfig string `json:"docker-config"`
}

func (m *mirrorFlag) String() string {
	parts := make([]string, len(m.upstreams))
	for i, u := range m.upstreams {
		parts[i] = u.URL
		if u.Prefix != "" {
			parts[i] = u.Prefix + "=" + u.URL
		}
	}
	return strings.Join(parts, ",")
}

func (m *mirrorFlag) Type() string { return "[PREFIX=]URL" }

// Set adds one upstream, or the config file's list.
func (m *mirrorFlag) Set(v string) error {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") || strings.HasPrefix(v, "{") {
		return m.setList(v)
	}
	up := pullthrough.Upstream{URL: v}
	if prefix, rest, ok := strings.Cut(v, "="); ok && !strings.Contains(prefix, "://") {
		up = pullthrough.Upstream{Prefix: prefix, URL: rest}
	}
	if _, _, err := pullthrough.ParseURL(up.URL); err != nil {
		return err
	}
	m.upstreams = append(m.upstreams, up)
	return nil
}

func (m *mirrorFlag) setList(v string) error {
	var entries []mirrorEntry
	if strings.HasPrefix(v, "{") {
		v = "[" + v + "]"
	}
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return fmt.Errorf("want a list of {prefix, upstream, username, password, password-file, docker-config}: %w", err)
	}
	for i, e := range entries {
		if e.Upstream == "" {
			return fmt.Errorf("entry %d: upstream is required", i+1)
		}
		if _, _, err := pullthrough.ParseURL(e.Upstream); err != nil {
			return fmt.Errorf("entry %d: %w", i+1, err)
		}
		if e.PasswordFile != "" {
			if e.Password != "" {
				return fmt.Errorf("entry %d: give password or password-file, not both", i+1)
			}
			b, err := os.ReadFile(e.PasswordFile)
			if err != nil {
				return fmt.Errorf("entry %d: %w", i+1, err)
			}
			e.Password = string(bytes.TrimRight(b, "\r\n"))
		}
		if e.Password != "" && e.Username == "" {
			return fmt.Errorf("entry %d: a password without a username", i+1)
		}
		if e.Username != "" && e.DockerConfig != "" {
			return fmt.Errorf("entry %d: give username or docker-config, not both", i+1)
		}
		m.upstreams = append(m.upstreams, pullthrough.Upstream{
			Prefix: e.Prefix, URL: e.Upstream, Username: e.Username, Password: e.Password, DockerConfig: e.DockerConfig,
		})
	}
	return nil
}

const mirrorUsage = `mirror this upstream registry: URL serves every name, PREFIX=URL the names under PREFIX (docker.io/=https://registry-1.docker.io); repeatable; in the config file, a list of {prefix, upstream, username, password-file, docker-config}`

// openMirror returns the pull-through store over cache for --mirror.
func openMirror(cache cas.Store, f serveFlags, log *slog.Logger) (*pullthrough.Store, error) {
	pt, err := pullthrough.New(cache, pullthrough.Options{
		Upstreams: f.mirror.upstreams, TagTTL: f.mirrorTTL, Logger: log, UserAgent: "gantry/" + Version,
	})
	if err != nil {
		return nil, fmt.Errorf("--mirror: %w", err)
	}
	for _, u := range f.mirror.upstreams {
		names := u.Prefix + "*"
		if u.Prefix == "" {
			names = "every name"
		}
		log.Info("mirroring", "names", names, "upstream", u.URL, "tag_ttl", f.mirrorTTL, "credentials", u.Username != "" || u.DockerConfig != "")
	}
	return pt, nil
}

func newServeContainerdConfigCmd() *cobra.Command {
	var (
		mirror mirrorFlag
		mURL   string
		output string
	)
	cmd := &cobra.Command{
		Use:   "containerd-config",
		Short: "Print containerd's hosts.toml that makes gantry serve the mirror of its upstreams",
		Long: `containerd-config prints, for each upstream of --mirror (read from the flags,
the environment or the config file's serve section, as gantry serve reads
them), the hosts.toml with which containerd pulls that registry's images
through gantry serve, and from the registry itself if gantry does not
answer. Each goes to /etc/containerd/certs.d/HOST/hosts.toml, where HOST is
the registry as image names spell it: the prefix without its slash
(docker.io for docker.io/), or the upstream's host for an upstream that
serves every name. With --output DIR, each is written there as
DIR/HOST/hosts.toml (give ctr --hosts-dir DIR, or point containerd's CRI
config_path at DIR).

A prefix must be a registry host for containerd to use it: containerd
names the registry in an ns query parameter, which gantry serve maps to the
prefix.`,
		Example: `  gantry serve containerd-config --mirror docker.io/=https://registry-1.docker.io \
    --url http://mirror.example.com:5000 --output /etc/containerd/certs.d`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Checked here, once the environment and the config file
			// have filled the flags.
			if len(mirror.upstreams) == 0 {
				return usageError{errors.New("no upstream: give --mirror (or serve: {mirror: ...} in the config file)")}
			}
			if u, err := url.Parse(mURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usageError{fmt.Errorf("--url %q: want http(s)://HOST[:PORT]", mURL)}
			}
			files, err := mirrorHostsTOML(mirror.upstreams, mURL)
			if err != nil {
				return err
			}
			if output == "" {
				for _, f := range files {
					if _, err := io.WriteString(cmd.OutOrStdout(), f.body+"\n"); err != nil {
						return err
					}
				}
				return nil
			}
			for _, f := range files {
				path := filepath.Join(output, f.dir, "hosts.toml")
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					return fmt.Errorf("--output: %w", err)
				}
				if err := atomicfile.Write(path, []byte(f.body), atomicfile.Options{}); err != nil {
					return fmt.Errorf("--output: %w", err)
				}
			}
			return nil
		},
	}
	cmd.Flags().Var(&mirror, "mirror", mirrorUsage)
	cmd.Flags().StringVar(&mURL, "url", "http://"+defaultServeAddr, "gantry serve's URL as containerd reaches it")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write DIR/HOST/hosts.toml for each upstream (directories made, files replaced atomically) instead of printing them")
	return cmd
}

type hostsFile struct{ dir, body string }

// mirrorHostsTOML returns one hosts.toml per upstream.
func mirrorHostsTOML(ups []pullthrough.Upstream, mirrorURL string) ([]hostsFile, error) {
	var out []hostsFile
	for _, u := range ups {
		_, host, err := pullthrough.ParseURL(u.URL)
		if err != nil {
			return nil, err
		}
		dir := host
		if u.Prefix != "" {
			dir = strings.TrimSuffix(u.Prefix, "/")
		}
		var b strings.Builder
		err = writeHostsTOML(&b, hostsTOML{
			dir: dir, server: u.URL, mirror: mirrorURL,
			note: "if it does not answer, containerd pulls from " + u.URL + " itself.",
		})
		if err != nil {
			return nil, err
		}
		out = append(out, hostsFile{dir: dir, body: b.String()})
	}
	return out, nil
}
