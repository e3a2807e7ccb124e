package image

import (
	"archive/tar"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// script is an executable file.
func script(name, body string) imagetest.Entry {
	return imagetest.Entry{Name: name, Type: tar.TypeReg, Mode: 0o755, Data: []byte(body)}
}

// TestEntrypointScripts checks GC020 on what the entrypoint's shell
// scripts in the image start, read from the final filesystem and followed
// along exec chains and symbolic links: the walk gantry lint makes of the
// scripts of a build context (lint.FollowEntrypoint).
func TestEntrypointScripts(t *testing.T) {
	bin := []imagetest.Entry{imagetest.Sized("bin/busybox", 1000), imagetest.Symlink("bin/sh", "busybox")}
	cases := []struct {
		name       string
		layers     [][]imagetest.Entry
		entrypoint []string
		cmd        []string
		workdir    string
		want       string // a part of the GC020 message, "" for no GC020
	}{
		{"script execs runsvdir", [][]imagetest.Entry{{script("usr/local/bin/start", "#!/bin/sh\nset -e\nmkdir -p /run\nexec runsvdir -P /etc/service\n")}},
			nil, []string{"start"}, "", "runs /usr/local/bin/start, which starts runsvdir"},
		{"script starts two services in the background", [][]imagetest.Entry{{script("entrypoint.sh", "#!/bin/bash\nhttpd -f &\ncrond -f &\nwait\n")}},
			[]string{"/entrypoint.sh"}, nil, "", "starts 2 processes in the background"},
		{"script tails logs after nginx and php-fpm", [][]imagetest.Entry{{script("app/run.sh", "#!/bin/sh\nnginx &\nphp-fpm &\ntail -f /var/log/nginx/access.log\n")}},
			[]string{"./run.sh"}, nil, "/app", "runs /app/run.sh"},
		{"script starts services", [][]imagetest.Entry{{script("start.sh", "#!/bin/sh\nservice mysql start\nservice apache2 start\nexec sleep infinity\n")}},
			nil, []string{"sh", "/start.sh"}, "", "starts 2 services"},
		{"entrypoint passes /sbin/init and execs it", [][]imagetest.Entry{{
			script("usr/local/bin/entrypoint", "#!/bin/sh\necho setting up\nexec \"$@\"\n"),
			imagetest.Sized("lib/systemd/systemd", 1000), imagetest.Symlink("sbin/init", "/lib/systemd/systemd"),
		}}, []string{"/usr/local/bin/entrypoint", "/sbin/init"}, nil, "", "starts systemd"},
		{"entrypoint execs its CMD, supervisord", [][]imagetest.Entry{{script("docker-entrypoint.sh", "#!/bin/sh\nset -e\nif [ \"$1\" = x ]; then shift; fi\nexec \"$@\"\n"), imagetest.Sized("usr/bin/supervisord", 100)}},
			[]string{"/docker-entrypoint.sh"}, []string{"supervisord", "-n"}, "", "which starts supervisord"},
		{"exec chain through a symlinked script", [][]imagetest.Entry{
			{script("opt/app/bin/entry", "#!/usr/bin/env bash\nexec /opt/app/bin/boot \"$@\"\n")},
			{script("opt/app/bin/boot", "#!/bin/sh\nexec s6-svscan /etc/s6\n"), imagetest.Symlink("usr/local/bin/entry", "/opt/app/bin/entry")},
		}, []string{"entry"}, nil, "", "runs /opt/app/bin/boot, which starts s6-svscan"},
		{"script execs init that is busybox", [][]imagetest.Entry{{script("boot.sh", "#!/bin/sh\nexec /sbin/init\n"), imagetest.Symlink("sbin/init", "/bin/busybox"), imagetest.File("etc/inittab", "::respawn:/bin/httpd -f\n")}},
			[]string{"/boot.sh"}, nil, "", "starts busybox init"},
		{"binary entrypoint passed /sbin/init", [][]imagetest.Entry{{script("usr/local/bin/entrypoint", "\x7fELF\x02\x01\x01"), imagetest.Sized("sbin/init", 1000)}},
			[]string{"/usr/local/bin/entrypoint", "/sbin/init"}, nil, "", "passes /sbin/init"},
		{"binary entrypoint passed a missing /sbin/init", [][]imagetest.Entry{{script("usr/local/bin/entrypoint", "\x7fELF\x02\x01\x01")}},
			[]string{"/usr/local/bin/entrypoint", "/sbin/init"}, nil, "", ""},
		{"script reached by a hard link", [][]imagetest.Entry{{script("opt/start.sh", "#!/bin/sh\nexec supervisord -n\n"), {Name: "start", Type: tar.TypeLink, Link: "opt/start.sh"}}},
			[]string{"/start"}, nil, "", "runs /start, which starts supervisord"},
		{"script in a squashed image", [][]imagetest.Entry{{script("run.sh", "#!/bin/sh\nexec supervisord -c /etc/supervisord.conf\n")}},
			[]string{"/run.sh"}, nil, "", "which starts supervisord"},

		{"phusion's my_init", [][]imagetest.Entry{{imagetest.Sized("sbin/my_init", 100)}}, nil, []string{"/sbin/my_init"}, "", "starts my_init"},
		{"circus", [][]imagetest.Entry{{imagetest.Sized("usr/local/bin/circusd", 100)}}, nil, []string{"circusd", "/etc/circus.ini"}, "", "starts circusd"},
		{"runsvinit behind dumb-init", [][]imagetest.Entry{{imagetest.Sized("usr/bin/dumb-init", 100), imagetest.Sized("sbin/runsvinit", 100)}}, []string{"dumb-init", "--"}, []string{"runsvinit"}, "", "starts runsvinit"},
		{"pm2 with an ecosystem file", [][]imagetest.Entry{{imagetest.Sized("usr/local/bin/pm2-runtime", 100)}}, nil, []string{"pm2-runtime", "ecosystem.config.js"}, "", "starts pm2-runtime"},
		{"pm2 in cluster mode", [][]imagetest.Entry{{imagetest.Sized("usr/local/bin/pm2", 100)}}, nil, []string{"pm2", "start", "server.js", "-i", "max", "--no-daemon"}, "", "starts pm2"},

		{"pm2 with one app", [][]imagetest.Entry{{imagetest.Sized("usr/local/bin/pm2-runtime", 100)}}, nil, []string{"pm2-runtime", "server.js"}, "", ""},
		{"tini entrypoint script", [][]imagetest.Entry{{script("entrypoint.sh", "#!/bin/sh\nexec tini -- \"$@\"\n")}},
			[]string{"/entrypoint.sh"}, []string{"/app"}, "", ""},
		{"gosu hand-over", [][]imagetest.Entry{{script("usr/local/bin/docker-entrypoint.sh", "#!/usr/bin/env bash\nset -Eeo pipefail\ntemp_start() {\n  \"$@\" --skip-networking &\n  wait\n}\nif [ \"$(id -u)\" = 0 ]; then\n  exec gosu postgres \"$BASH_SOURCE\" \"$@\"\nfi\nexec \"$@\"\n")}},
			[]string{"docker-entrypoint.sh"}, []string{"postgres"}, "", ""},
		{"su-exec and dumb-init", [][]imagetest.Entry{{script("entry.sh", "#!/bin/sh\nexec dumb-init su-exec app:app /app\n")}},
			[]string{"/entry.sh"}, nil, "", ""},
		{"one background helper", [][]imagetest.Entry{{script("entry.sh", "#!/bin/sh\nupdate-ca-certificates &\nexec \"$@\"\n")}},
			[]string{"/entry.sh"}, []string{"/app"}, "", ""},
		{"entrypoint does not exec its arguments", [][]imagetest.Entry{{script("entry.sh", "#!/bin/sh\nexec /app\n")}},
			[]string{"/entry.sh", "/sbin/init"}, nil, "", ""},
		{"python entrypoint is not read", [][]imagetest.Entry{{script("entry.py", "#!/usr/bin/env python3\nimport os\nos.execvp('supervisord', ['supervisord'])\n")}},
			[]string{"/entry.py"}, nil, "", ""},
		{"script deleted by a later layer", [][]imagetest.Entry{{script("start.sh", "#!/bin/sh\nexec runsvdir /etc/service\n")}, {imagetest.Whiteout("start.sh")}},
			[]string{"/start.sh"}, nil, "", ""},
		{"script replaced by a later layer", [][]imagetest.Entry{{script("start.sh", "#!/bin/sh\nexec runsvdir /etc/service\n")}, {script("start.sh", "#!/bin/sh\nexec /app\n")}},
			[]string{"/start.sh"}, nil, "", ""},
		{"script over the size bound", [][]imagetest.Entry{{script("start.sh", "#!/bin/sh\n"+strings.Repeat("# padding\n", maxScriptFile/10+1)+"exec runsvdir /etc/service\n")}},
			[]string{"/start.sh"}, nil, "", ""},
		{"symlink loop", [][]imagetest.Entry{{imagetest.Symlink("a", "/b"), imagetest.Symlink("b", "/a")}},
			[]string{"/a", "/sbin/init"}, nil, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			layers := []testimage.Layer{imagetest.Layer(imagetest.Gzip, append([]imagetest.Entry{imagetest.File("etc/passwd", passwd)}, bin...)...)}
			for _, l := range tc.layers {
				layers = append(layers, imagetest.Layer(imagetest.Gzip, l...))
			}
			cfg := imagetest.Config{User: "app", Entrypoint: tc.entrypoint, Cmd: tc.cmd, WorkingDir: tc.workdir}
			r := mustAnalyze(t, layers, cfg)
			fs := find(r.Findings, RuleProcessManager)
			switch {
			case tc.want == "" && len(fs) > 0:
				t.Errorf("GC020 fired: %s", fs[0].Message)
			case tc.want != "" && len(fs) == 0:
				t.Errorf("no GC020, want one saying %q: %s", tc.want, dump(r.Findings))
			case tc.want != "" && !strings.Contains(fs[0].Message, tc.want):
				t.Errorf("GC020 %q, want it to say %q", fs[0].Message, tc.want)
			case tc.want != "" && fs[0].Layer != "":
				t.Errorf("GC020 is located to layer %s, want the image", fs[0].Layer)
			}
		})
	}
}
