package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScripts lints Dockerfiles whose ENTRYPOINT or CMD is a script copied
// from a real build context directory.
func TestScripts(t *testing.T) {
	cases := []struct {
		name       string
		dockerfile string
		files      map[string]string
		want       string // the rule that must fire, "" for none of GL201-GL203
	}{
		{"exec supervisord", "FROM debian:12\nCOPY start.sh /start.sh\nCMD [\"/start.sh\"]\n",
			map[string]string{"start.sh": "#!/bin/sh\nset -e\nsed -i s/a/b/ /etc/x\nexec /usr/bin/supervisord -n -c /etc/supervisor/supervisord.conf\n"}, "GL201"},
		{"tini then supervisord in a directory copy", "FROM ubuntu:20.04\nCOPY rootfs /\nENTRYPOINT [\"/startup.sh\"]\n",
			map[string]string{"rootfs/startup.sh": "#!/bin/bash\nexec /bin/tini -- supervisord -n\n"}, "GL201"},
		{"background and wait", "FROM debian:12\nENV D=/dockerstartup\nADD ./scripts $D\nENTRYPOINT [\"/dockerstartup/vnc_startup.sh\"]\n",
			map[string]string{"scripts/vnc_startup.sh": "#!/bin/bash\nvncserver :1\nnovnc_proxy --listen 6901 &\nif [ -z \"$1\" ]; then\n  wait\nelse\n  exec \"$@\"\nfi\n"}, "GL202"},
		{"background and tail -f", "FROM debian:12\nCOPY run.sh /usr/local/bin/\nCMD [\"run.sh\"]\n",
			map[string]string{"run.sh": "#!/bin/sh\nnginx &\nphp-fpm &\ntail -f /var/log/nginx/access.log\n"}, "GL202"},
		{"service starts", "FROM debian:12\nCOPY entry.sh /entry.sh\nENTRYPOINT [\"/entry.sh\"]\n",
			map[string]string{"entry.sh": "#!/bin/bash\nservice mysql start\nservice apache2 start\nexec \"$@\"\n"}, "GL203"},
		{"exec chain into a second script", "FROM debian:12\nCOPY assets/ /assets/\nCMD [\"/assets/wrapper\"]\n",
			map[string]string{"assets/wrapper": "#!/bin/bash\nexec /assets/init\n", "assets/init": "#!/bin/bash\nexec runsvdir -P /etc/service\n"}, "GL201"},
		{"official entrypoint hands over with exec", "FROM debian:12\nCOPY docker-entrypoint.sh /usr/local/bin/\nENTRYPOINT [\"docker-entrypoint.sh\"]\nCMD [\"postgres\"]\n",
			map[string]string{"docker-entrypoint.sh": "#!/usr/bin/env bash\nset -Eeo pipefail\ndocker_temp_server_start() {\n  \"$@\" --skip-networking &\n  wait\n}\nif [ \"$1\" = postgres ] && [ \"$(id -u)\" = 0 ]; then\n  exec gosu postgres \"$BASH_SOURCE\" \"$@\"\nfi\nexec \"$@\"\n"}, ""},
		{"one background helper without waiting", "FROM debian:12\nCOPY entry.sh /entry.sh\nENTRYPOINT [\"/entry.sh\"]\n",
			map[string]string{"entry.sh": "#!/bin/sh\nupdate-ca-certificates &\nexec \"$@\"\n"}, ""},
		{"python entrypoint is not read", "FROM debian:12\nCOPY entry.py /entry.py\nCMD [\"/entry.py\"]\n",
			map[string]string{"entry.py": "#!/usr/bin/env python3\nimport os\nos.system('supervisord')\n"}, ""},
		{"script run by sh", "FROM debian:12\nCOPY start.sh /start.sh\nENTRYPOINT [\"sh\", \"/start.sh\"]\n",
			map[string]string{"start.sh": "exec s6-svscan /etc/s6\n"}, "GL201"},
		{"tini hand-over in a script", "FROM debian:12\nCOPY entry.sh /entry.sh\nENTRYPOINT [\"/entry.sh\"]\nCMD [\"/app\"]\n",
			map[string]string{"entry.sh": "#!/bin/sh\nexec tini -- \"$@\"\n"}, ""},
		{"script not in the context", "FROM debian:12\nCMD [\"/start.sh\"]\n", nil, ""},
		{"copied from another stage is not read", "FROM debian:12 AS b\nFROM debian:12\nCOPY --from=b /start.sh /start.sh\nCMD [\"/start.sh\"]\n",
			map[string]string{"start.sh": "#!/bin/sh\nexec supervisord\n"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tc.files {
				p := filepath.Join(dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			fs, err := Lint("Dockerfile", []byte(tc.dockerfile), Options{Context: dir})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				if f.Rule == "GL201" || f.Rule == "GL202" || f.Rule == "GL203" {
					got = append(got, f.Rule+" "+f.Message)
				}
			}
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("want no process finding, got %q", got)
			case tc.want != "" && (len(got) == 0 || got[0][:5] != tc.want):
				t.Errorf("want %s, got %q", tc.want, got)
			}
			// Without a context the same Dockerfile reads no script.
			if fs, _ := Lint("Dockerfile", []byte(tc.dockerfile), Options{}); tc.want != "" {
				for _, f := range fs {
					if f.Rule == tc.want {
						t.Errorf("without a context: %s %s", f.Rule, f.Message)
					}
				}
			}
		})
	}
}

// TestRunScripts checks that a RUN of a script copied from the build
// context is read for the packages it leaves installed.
func TestRunScripts(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "install"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"install/chrome.sh": "#!/usr/bin/env bash\nset -e\napt-get install -y chromium\napt-get clean -y\n",
		"install/tools.sh":  "#!/bin/sh\napt-get install -y gcc make\nmake\napt-get purge -y gcc make\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, dockerfile string
		fire             bool
	}{
		{"script installs chromium", "FROM debian:12\nENV INST=/dockerstartup/install\nADD ./install/ $INST/\nRUN $INST/chrome.sh\n", true},
		{"script installs and purges", "FROM debian:12\nCOPY install/tools.sh /tmp/\nRUN /tmp/tools.sh && rm /tmp/tools.sh\n", false},
		{"script in a build stage", "FROM debian:12 AS b\nCOPY install/chrome.sh /c.sh\nRUN /c.sh\nFROM debian:12\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Lint("Dockerfile", []byte(tc.dockerfile), Options{Context: dir})
			if err != nil {
				t.Fatal(err)
			}
			got := false
			for _, f := range fs {
				got = got || f.Rule == "GL301"
			}
			if got != tc.fire {
				t.Errorf("GL301 fired=%v, want %v: %v", got, tc.fire, fs)
			}
		})
	}
}

// mapFiles is a ScriptFiles of paths to contents; links maps a path to
// the path it leads to.
type mapFiles struct {
	files map[string]string
	links map[string]string
}

func (m mapFiles) Program(prog string) (string, []byte) {
	if !strings.HasPrefix(prog, "/") {
		prog = "/usr/bin/" + prog
	}
	for i := 0; i < 10; i++ {
		to, ok := m.links[prog]
		if !ok {
			break
		}
		prog = to
	}
	body, ok := m.files[prog]
	if !ok {
		return "", nil
	}
	if body == "" {
		return prog, nil // a binary
	}
	return prog, []byte(body)
}

// TestFollowEntrypoint checks the one walk of entrypoint scripts that lint
// and check share, on a filesystem given as a map.
func TestFollowEntrypoint(t *testing.T) {
	files := mapFiles{
		files: map[string]string{
			"/entry.sh":            "#!/bin/sh\nset -e\nexec \"$@\"\n",
			"/lib/systemd/systemd": "",
			"/usr/bin/app":         "",
			"/usr/bin/busybox":     "",
			"/a.sh":                "#!/bin/sh\nexec /b.sh\n",
			"/b.sh":                "#!/bin/sh\nexec /c.sh\n",
			"/c.sh":                "#!/bin/sh\nexec /d.sh\n",
			"/d.sh":                "#!/bin/sh\nexec runsvdir /etc/service\n",
			"/self.sh":             "#!/bin/sh\nexec /self.sh \"$@\"\n",
			"/bg.sh":               "#!/bin/sh\nfor x in a b; do echo $x; done\nnginx &\nphp-fpm &\nsleep infinity\n",
			"/py":                  "#!/usr/bin/python3\nexec supervisord\n",
			"/envsh":               "#!/usr/bin/env -S bash -e\nexec supervisord\n",
		},
		links: map[string]string{"/sbin/init": "/lib/systemd/systemd", "/usr/bin/start": "/lib/systemd/systemd", "/bin/init": "/usr/bin/busybox"},
	}
	cases := []struct {
		name string
		argv []string
		kind EntrypointKind
		want string // Manager, or Script for the other kinds
	}{
		{"exec of its arguments", []string{"/entry.sh", "/sbin/init"}, EntrypointManager, "systemd"},
		{"arguments through tini", []string{"/entry.sh", "tini", "--", "supervisord", "-n"}, EntrypointManager, "supervisord"},
		{"a manager under another name", []string{"/entry.sh", "start"}, EntrypointManager, "systemd"},
		{"busybox as init", []string{"/entry.sh", "/bin/init"}, EntrypointManager, "busybox init"},
		{"an app", []string{"/entry.sh", "app"}, EntrypointNone, ""},
		{"no arguments", []string{"/entry.sh"}, EntrypointNone, ""},
		{"chain within the bound", []string{"/b.sh"}, EntrypointManager, "runsvdir"},
		{"chain past the bound", []string{"/a.sh"}, EntrypointNone, ""},
		{"a script that execs itself", []string{"/self.sh", "x"}, EntrypointNone, ""},
		{"background and sleep", []string{"sh", "-c", "exec /bg.sh"}, EntrypointBackground, "/bg.sh"},
		{"on the command line", []string{"sh", "-c", "nginx & php-fpm & wait"}, EntrypointBackground, ""},
		{"not shell", []string{"/py"}, EntrypointNone, ""},
		{"env -S bash", []string{"/envsh"}, EntrypointManager, "supervisord"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := FollowEntrypoint(files, tc.argv)
			got := e.Manager
			if tc.kind != EntrypointManager {
				got = e.Script
			}
			if e.Kind != tc.kind || (tc.kind != EntrypointNone && !strings.Contains(got, tc.want)) {
				t.Errorf("%+v, want kind %d with %q", e, tc.kind, tc.want)
			}
		})
	}
}
