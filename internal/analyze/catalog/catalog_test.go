package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefault(t *testing.T) {
	c := Default()
	if len(c.Entries) < 10 {
		t.Fatalf("%d entries", len(c.Entries))
	}
	for _, e := range c.Entries {
		if e.Bytes < 1e6 {
			t.Errorf("%s: size %q is %d bytes", e.ID, e.Size, e.Bytes)
		}
	}
}

// id returns the entry's ID, "" for none.
func id(e *Entry) string {
	if e == nil {
		return ""
	}
	return e.ID
}

func TestPackage(t *testing.T) {
	c := Default()
	for _, tc := range []struct{ family, name, want string }{
		{"apt", "openjdk-17-jdk", "jdk"},
		{"apt", "openjdk-11-jdk-headless", "jdk"},
		{"apt", "default-jdk-headless", "jdk"},
		{"apt", "temurin-21-jdk", "jdk"},
		{"apk", "openjdk17", "jdk"},
		{"apk", "openjdk21-jdk", "jdk"},
		{"rpm", "java-17-openjdk-devel", "jdk"},
		{"apt", "openjdk-17-jre-headless", ""},
		{"apk", "openjdk17-jre", ""},
		{"apt", "chromium", "chromium"},
		{"apt", "chromium-driver", "chromium"},
		{"apt", "chromium-headless-shell", ""},
		{"apk", "chromium-chromedriver", "chromium"},
		{"apt", "google-chrome-stable", "chrome"},
		{"apt", "google-chrome-beta", "chrome"},
		{"apt", "elasticsearch", "elasticsearch"},
		{"rpm", "elasticsearch-oss", "elasticsearch"},
		{"pip", "elasticsearch", ""}, // the Python client
		{"apt", "kibana", "kibana"},
		{"npm", "puppeteer", "test-browsers"},
		{"yarn", "puppeteer", "test-browsers"},
		{"npm", "puppeteer-core", ""},
		{"apt", "gcc", "compilers"},
		{"apt", "gcc-12", "compilers"},
		{"apt", "gcc-12-base", ""},
		{"apt", "libpq-dev", "headers"},
		{"rpm", "openssl-devel", "headers"},
		{"apt", "golang-1.22-go", "go"},
		{"apk", "go", "go"},
		{"npm", "go", ""},
		{"apt", "curl", ""},
	} {
		if got := id(c.Package(tc.family, tc.name)); got != tc.want {
			t.Errorf("Package(%s, %s) = %q, want %q", tc.family, tc.name, got, tc.want)
		}
	}
}

func TestURL(t *testing.T) {
	c := Default()
	for _, tc := range []struct{ url, want string }{
		{"https://github.com/adoptium/temurin21-binaries/releases/download/jdk-21.0.5%2B11/OpenJDK21U-jdk_x64_linux_hotspot_21.0.5_11.tar.gz", "jdk"},
		{"https://github.com/adoptium/temurin21-binaries/releases/download/jdk-21.0.5%2B11/OpenJDK21U-jre_x64_linux_hotspot_21.0.5_11.tar.gz", ""},
		{"https://download.java.net/java/GA/jdk27/55ce/35/GPL/openjdk-27_linux-x64_bin.tar.gz", "jdk"},
		{"https://cdn.azul.com/zulu/bin/zulu21.30.15-ca-jdk21.0.1-linux_x64.tar.gz", "jdk"},
		{"https://cdn.azul.com/zulu/bin/zulu21.30.15-ca-jre21.0.1-linux_x64.tar.gz", ""},
		{"https://corretto.aws/downloads/latest/amazon-corretto-21-x64-linux-jdk.tar.gz", "jdk"},
		{"https://dl.google.com/linux/direct/google-chrome-stable_current_amd64.deb", "chrome"},
		{"https://storage.googleapis.com/chrome-for-testing-public/131.0.6778.85/linux64/chrome-linux64.zip", "chromium"},
		{"https://storage.googleapis.com/chrome-for-testing-public/131.0.6778.85/linux64/chrome-headless-shell-linux64.zip", ""},
		{"https://artifacts.elastic.co/downloads/elasticsearch/elasticsearch-8.15.0-linux-x86_64.tar.gz", "elasticsearch"},
		{"https://artifacts.elastic.co/downloads/kibana/kibana-8.15.0-linux-x86_64.tar.gz", "kibana"},
		{"https://artifacts.elastic.co/downloads/kibana/kibana-oss-7.5.1-linux-x86_64.tar.gz", "kibana"},
		{"https://artifacts.elastic.co/downloads/elasticsearch/elasticsearch-oss-7.5.1-no-jdk-linux-x86_64.tar.gz", "elasticsearch"},
		{"https://artifacts.elastic.co/downloads/logstash/logstash-8.15.0-linux-x86_64.tar.gz", "logstash"},
		{"https://nodejs.org/dist/v22.11.0/node-v22.11.0-linux-x64.tar.xz", "node"},
		{"https://dl.google.com/android/repository/commandlinetools-linux-11076708_latest.zip", "android-sdk"},
		{"https://dl.google.com/android/android-sdk_r24.4.1-linux.tgz", "android-sdk"},
		{"https://go.dev/dl/go1.23.3.linux-amd64.tar.gz", "go"},
		{"https://download.mozilla.org/?product=firefox-latest-ssl&os=linux64", "firefox"},
		{"https://example.com/app-1.0.tar.gz", ""},
	} {
		if got := id(c.URL(tc.url)); got != tc.want {
			t.Errorf("URL(%s) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestCommand(t *testing.T) {
	c := Default()
	for _, tc := range []struct{ argv, want string }{
		{"npx playwright install chromium", "test-browsers"},
		{"npx playwright install --with-deps", "test-browsers"},
		{"npx playwright install-deps", ""},
		{"python -m playwright install", "test-browsers"},
		{"npx @puppeteer/browsers install chrome@stable", "test-browsers"},
		{"npx puppeteer browsers install chrome", "test-browsers"},
		{"/opt/android-sdk/cmdline-tools/latest/bin/sdkmanager --sdk_root=/opt/android-sdk platforms;android-34 build-tools;34.0.0", "android-sdk"},
		{"sdkmanager --licenses", ""},
		{"npm install", ""},
	} {
		if got := id(c.Command(strings.Fields(tc.argv))); got != tc.want {
			t.Errorf("Command(%s) = %q, want %q", tc.argv, got, tc.want)
		}
	}
}

func TestCopyDirAndImage(t *testing.T) {
	c := Default()
	for _, tc := range []struct{ dir, want string }{
		{"/usr/local/go", "go"},
		{"/usr/local/go/", "go"},
		{"/usr/local/go/bin/gofmt", ""},
		{"/usr/lib/jvm/java-17-openjdk-amd64", "jdk"},
		{"/opt/java/openjdk", "jdk"},
		{"/ms-playwright", "test-browsers"},
		{"/root/.cache/puppeteer", "test-browsers"},
		{"/opt/google/chrome", "chrome"},
		{"/opt/android-sdk", "android-sdk"},
		{"/usr/share/elasticsearch", "elasticsearch"},
		{"/app", ""},
	} {
		if got := id(c.CopyDir(tc.dir)); got != tc.want {
			t.Errorf("CopyDir(%s) = %q, want %q", tc.dir, got, tc.want)
		}
	}
	for _, tc := range []struct{ repo, tag, want string }{
		{"library/golang", "1.23", "go"},
		{"library/golang", "", "go"},
		{"library/eclipse-temurin", "21-jdk", "jdk"},
		{"library/eclipse-temurin", "21-jre", ""},
		{"library/openjdk", "8-jre-slim", ""},
		{"library/amazoncorretto", "21", "jdk"},
		{"library/maven", "3-eclipse-temurin-21", "java-build"},
		{"library/php", "8.3-apache", "compilers"},
		{"library/php", "8.3-fpm-alpine", ""},
		{"library/php", "", ""},
		{"pypa/manylinux2014_x86_64", "latest", "compilers"},
		{"dotnet/sdk", "8.0", "dotnet-sdk"},
		{"dotnet/aspnet", "8.0", ""},
		{"cypress/browsers", "22.12.0", "test-browsers"},
		{"cypress/base", "22.12.0", ""},
		{"someone/included", "1", ""},
		{"playwright", "v1.49.0-noble", "test-browsers"},
		{"playwright/python", "v1.49.0", "test-browsers"},
		{"elasticsearch/elasticsearch", "8.15.0", "elasticsearch"},
		{"library/debian", "12", ""},
	} {
		if got := id(c.Image(tc.repo, tc.tag)); got != tc.want {
			t.Errorf("Image(%s, %s) = %q, want %q", tc.repo, tc.tag, got, tc.want)
		}
	}
	jdk := c.CopyDir("/opt/java/openjdk")
	if !jdk.Excludes("library/eclipse-temurin", "17-jre") || jdk.Excludes("library/eclipse-temurin", "17-jdk") {
		t.Error("the JDK entry should exclude a JRE image as the source of /opt/java/openjdk, and only that")
	}
}

func TestParseErrors(t *testing.T) {
	const ok = `id: x, kind: jdk, what: a thing, size: 10 MB, instead: something else, packages: [x]`
	for _, tc := range []struct{ name, src, want string }{
		{"empty", "", "no entries"},
		{"empty list", "[]", "no entries"},
		{"not a list", "id: x", "cannot unmarshal"},
		{"unknown field", "- {" + ok + ", colour: red}", "field colour not found"},
		{"bad id", "- {" + strings.Replace(ok, "id: x", "id: X Y", 1) + "}", `id "X Y"`},
		{"bad kind", "- {" + strings.Replace(ok, "kind: jdk", "kind: boat", 1) + "}", `kind "boat"`},
		{"bad size", "- {" + strings.Replace(ok, "10 MB", "lots", 1) + "}", `size "lots"`},
		{"no what", "- {" + strings.Replace(ok, "what: a thing", "what: ''", 1) + "}", "what:"},
		{"no matchers", "- {" + strings.Replace(ok, ", packages: [x]", "", 1) + "}", "nothing would match"},
		{"bad family", "- {" + strings.Replace(ok, "[x]", "[brew:x]", 1) + "}", `"brew" is not one of`},
		{"open class", "- {" + strings.Replace(ok, "[x]", `["x[a"]`, 1) + "}", "[ without ]"},
		{"bad class", "- {" + strings.Replace(ok, "[x]", `["x[a\\]"]`, 1) + "}", "in a [] class"},
		{"relative copy", "- {" + ok + ", copy: [usr/local/go]}", "absolute directory"},
		{"upper-case image", "- {" + ok + ", images: [Golang]}", "lower case"},
		{"bad env", "- {" + ok + ", unless-env: [1X]}", "not a variable name"},
		{"pipe in pattern", "- {" + strings.Replace(ok, "[x]", `["a|b"]`, 1) + "}", "without |"},
		{"duplicate id", "- {" + ok + "}\n- {" + ok + "}", "used twice"},
		{"null entry", "- \n", "entry 1 is empty"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			_, err := Parse([]byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

// TestDocsUpToDate fails when docs/rules.md's catalogue section is not
// what heavy.yaml generates: run `go generate ./internal/analyze/catalog`.
func TestDocsUpToDate(t *testing.T) {
	doc := filepath.Join("..", "..", "..", "docs", "rules.md")
	old, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Splice(old, Default().Markdown())
	if err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	if string(want) != string(old) {
		t.Errorf("%s is out of date with heavy.yaml: run go generate ./internal/analyze/catalog", doc)
	}
}

func TestSplice(t *testing.T) {
	doc := "a\n" + BeginMarker + "\nold\n" + EndMarker + "\nb\n"
	got, err := Splice([]byte(doc), "new\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "a\n" + BeginMarker + "\nnew\n" + EndMarker + "\nb\n"; string(got) != want {
		t.Errorf("Splice = %q, want %q", got, want)
	}
	for _, bad := range []string{"no markers", EndMarker + BeginMarker, BeginMarker + BeginMarker + EndMarker} {
		if _, err := Splice([]byte(bad), "x"); err == nil {
			t.Errorf("Splice(%q) succeeded", bad)
		}
	}
}

// FuzzParse checks that no catalogue makes Parse panic, and that what it
// accepts can be looked up and written out. Seeds: heavy.yaml and
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add(heavyYAML)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(err.Error(), "yaml:") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		for _, e := range c.Entries {
			if e.ID == "" || e.Bytes <= 0 {
				t.Fatalf("accepted entry %+v", e)
			}
		}
		s := string(data)
		c.Package("apt", s)
		c.Package("npm", s)
		c.URL(s)
		c.Command(strings.Fields(s))
		c.CopyDir(s)
		c.Image(s, s)
		if e, root := c.File(data, int64(len(data))<<16); e != nil && (root < 0 || root > len(data)) {
			t.Fatalf("File: root %d of a %d-byte path", root, len(data))
		}
		_ = c.Markdown()
	})
}

func TestFile(t *testing.T) {
	c := Default()
	const big = 11 << 20
	for _, tc := range []struct {
		path       string
		size       int64
		want, root string
	}{
		{"opt/java/openjdk/lib/modules", big, "jre", "opt/java/openjdk"},
		{"opt/java/openjdk/lib/modules", 5000, "", ""},
		{"opt/java/openjdk/lib/ct.sym", 100, "jdk", "opt/java/openjdk"},
		{"usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so", 100, "jre", "usr/lib/jvm/java-17-openjdk-amd64"},
		{"usr/lib/jvm/java-8-openjdk-amd64/jre/lib/amd64/server/libjvm.so", 100, "jre", "usr/lib/jvm/java-8-openjdk-amd64"},
		{"lib/server/libjvm.so", 100, "jre", ""},
		{"usr/lib/chromium/chromium", big, "chromium", "usr/lib/chromium"},
		{"usr/bin/chromium", 2000, "", ""},
		{"opt/google/chrome/chrome", big, "chrome", "opt/google/chrome"},
		{"root/.cache/ms-playwright/chromium-1105/chrome-linux/chrome", big, "test-browsers", "root/.cache/ms-playwright"},
		{"ms-playwright/chromium_headless_shell-1155/chrome-linux/headless_shell", big, "test-browsers", "ms-playwright"},
		{"root/.cache/ms-playwright/.links/abc", 100, "", ""},
		{"opt/chrome-headless-shell/chrome-headless-shell", big, "", ""}, // the lighter browser the advice names
		{"srv/chromium-headless/chrome-linux/chrome", big, "chromium", "srv/chromium-headless/chrome-linux"},
		{"usr/lib/firefox-esr/libxul.so", big, "firefox", "usr/lib/firefox-esr"},
		{"usr/lib/x86_64-linux-gnu/libwebkit2gtk-4.1.so.0.13.2", big, "webkit", "usr/lib/x86_64-linux-gnu"},
		{"usr/share/elasticsearch/lib/elasticsearch-8.11.0.jar", 100, "elasticsearch", "usr/share/elasticsearch"},
		{"srv/es/elasticsearch-7.17.0.jar", 100, "elasticsearch", "srv/es"},
		{"app/lib/elasticsearch-rest-client-7.17.0.jar", 100, "", ""},
		{"usr/share/logstash/logstash-core/lib/jars/logstash-core.jar", 100, "logstash", "usr/share/logstash"},
		{"usr/share/kibana/bin/kibana-keystore", 100, "kibana", "usr/share/kibana"},
		{"opt/android-sdk/platforms/android-34/android.jar", 100, "android-sdk", "opt/android-sdk"},
		{"usr/lib/android-sdk/platform-tools/adb", 100, "", ""},
		{"usr/local/go/pkg/tool/linux_amd64/compile", 100, "go", "usr/local/go"},
		{"usr/lib/gcc/x86_64-linux-gnu/12/cc1", 100, "compilers", "usr/lib/gcc/x86_64-linux-gnu/12"},
		{"usr/lib/x86_64-linux-gnu/libgcc_s.so.1", 100, "", ""},
		{"usr/lib/llvm-14/bin/clang-14", big, "compilers", "usr/lib/llvm-14"},
		{"usr/local/rustup/toolchains/1.80.0-x86_64-unknown-linux-gnu/lib/librustc_driver-abc.so", 100, "rust", "usr/local/rustup/toolchains/1.80.0-x86_64-unknown-linux-gnu"},
		{"usr/lib/x86_64-linux-gnu/librustc_driver-abc.so", 100, "", ""},
		{"usr/share/dotnet/sdk/8.0.100/dotnet.dll", 100, "dotnet-sdk", "usr/share/dotnet"},
		{"usr/share/maven/lib/maven-core-3.8.7.jar", 100, "java-build", "usr/share/maven"},
		{"usr/lib/libfoo.so", big, "", ""},
	} {
		e, n := c.File([]byte(tc.path), tc.size)
		if got := id(e); got != tc.want || (e != nil && tc.path[:n] != tc.root) {
			t.Errorf("File(%s, %d) = %q in %q, want %q in %q", tc.path, tc.size, got, tc.path[:n], tc.want, tc.root)
		}
	}
}

func TestParseFilesErrors(t *testing.T) {
	for _, tc := range []struct{ files, want string }{
		{`["lib/modules"]`, "no //"},
		{`["//lib/modules"]`, "want a directory before //"},
		{`["*//"]`, "want a directory before //"},
		{`["*//lib//modules"]`, "one // only"},
		{`["*//lib/modules >10MB"]`, "want a size"},
		{`["*//lib/modules >10MiB extra"]`, "want \"DIR//FILE\""},
		{`["*//lib/[x"]`, "[ without ]"},
	} {
		_, err := Parse([]byte("- {id: x, kind: jdk, what: x, size: 1 MB, instead: y, files: " + tc.files + "}\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("files %s: error %v, want one line saying %q", tc.files, err, tc.want)
		}
	}
}

func BenchmarkFile(b *testing.B) {
	c := Default()
	paths := [][]byte{[]byte("usr/lib/x86_64-linux-gnu/libssl.so.3"), []byte("usr/share/doc/libfoo/copyright"),
		[]byte("usr/lib/python3/dist-packages/pkg/__init__.py"), []byte("app/lib/app-1.2.jar")}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range paths {
			if e, _ := c.File(p, 1000); e != nil {
				b.Fatal(e.ID)
			}
		}
	}
}
