package image

import (
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// bigBinary is the size over which the catalogue's browser and compiler
// marker files count (">10MiB"): below it, a file of the same name is a
// wrapper script.
const bigBinary = 10 << 20

// TestHeavyInstalled checks GC010 on heavy components found by their
// installed files, whatever installed them (a tarball, a test framework's
// download, COPY --from): each is one finding, at the directory it lives
// in, priced at the bytes below it.
func TestHeavyInstalled(t *testing.T) {
	const big = bigBinary + 1
	cases := []struct {
		name    string
		entries []imagetest.Entry
		want    string // "WHAT in /ROOT", "" for no GC010
		bytes   int64
	}{
		{"Java runtime by its lib/modules", []imagetest.Entry{imagetest.Sized("opt/java/openjdk/lib/modules", big), imagetest.Sized("opt/java/openjdk/bin/java", 100)},
			"a Java runtime in /opt/java/openjdk ", big + 100},
		{"JDK by its ct.sym", []imagetest.Entry{imagetest.Sized("opt/java/openjdk/lib/server/libjvm.so", 1000), imagetest.Sized("opt/java/openjdk/lib/ct.sym", 100), imagetest.Sized("opt/java/openjdk/bin/javac", 100)},
			"a JDK in /opt/java/openjdk ", 1200},
		{"Java 8 JDK", []imagetest.Entry{imagetest.Sized("usr/lib/jvm/java-8-openjdk-amd64/jre/lib/amd64/server/libjvm.so", 100), imagetest.Sized("usr/lib/jvm/java-8-openjdk-amd64/lib/tools.jar", 100)},
			"a JDK in /usr/lib/jvm/java-8-openjdk-amd64 ", 200},
		{"a link to javac", []imagetest.Entry{imagetest.Symlink("usr/bin/javac", "/etc/alternatives/javac"), imagetest.Sized("usr/bin/ls", 100)}, "", 0},
		{"a small file named modules", []imagetest.Entry{imagetest.Sized("opt/app/lib/modules", 100)}, "", 0},
		{"Firefox", []imagetest.Entry{imagetest.Sized("usr/lib/firefox-esr/libxul.so", big), imagetest.Sized("usr/lib/firefox-esr/firefox-esr", 1000)},
			"Firefox in /usr/lib/firefox-esr ", big + 1000},
		{"Playwright's browsers", []imagetest.Entry{
			imagetest.Sized("root/.cache/ms-playwright/chromium-1105/chrome-linux/chrome", big),
			imagetest.Sized("root/.cache/ms-playwright/firefox-1440/firefox/libxul.so", big),
			imagetest.Sized("root/.cache/ms-playwright/webkit-1983/minibrowser-wpe/lib/libWPEWebKit-1.1.so.0", big),
		}, "the browsers of a test framework in /root/.cache/ms-playwright ", 3 * big},
		{"Playwright's browsers at PLAYWRIGHT_BROWSERS_PATH", []imagetest.Entry{imagetest.Sized("ms-playwright/chromium_headless_shell-1155/chrome-linux/headless_shell", big)},
			"the browsers of a test framework in /ms-playwright ", big},
		{"Puppeteer's browser", []imagetest.Entry{imagetest.Sized("home/pptruser/.cache/puppeteer/chrome/linux-121.0.6167.85/chrome-linux64/chrome", big)},
			"the browsers of a test framework in /home/pptruser/.cache/puppeteer ", big},
		{"Android SDK", []imagetest.Entry{
			imagetest.Sized("opt/android-sdk/platforms/android-34/android.jar", 5000),
			imagetest.Sized("opt/android-sdk/build-tools/34.0.0/aapt2", 3000),
			imagetest.Sized("opt/android-sdk/cmdline-tools/latest/bin/sdkmanager", 100),
		}, "the Android SDK in /opt/android-sdk ", 8100},
		{"Android command-line tools", []imagetest.Entry{imagetest.Sized("sdk/cmdline-tools/latest/bin/sdkmanager", 100), imagetest.Sized("sdk/cmdline-tools/latest/lib/x.jar", 900)},
			"the Android SDK in /sdk ", 1000},
		{"adb alone", []imagetest.Entry{imagetest.Sized("usr/lib/android-sdk/platform-tools/adb", 3000)}, "", 0},
		{"OpenSearch", []imagetest.Entry{imagetest.Sized("usr/share/opensearch/lib/opensearch-2.11.0.jar", 100)}, "Elasticsearch in /usr/share/opensearch ", 100},
		{"Elasticsearch with its bundled JDK", []imagetest.Entry{
			imagetest.Sized("usr/share/elasticsearch/jdk/lib/server/libjvm.so", 1000),
			imagetest.Sized("usr/share/elasticsearch/lib/elasticsearch-8.11.0.jar", 100),
		}, "Elasticsearch in /usr/share/elasticsearch ", 1100},
		{"Logstash", []imagetest.Entry{imagetest.Sized("usr/share/logstash/logstash-core/lib/jars/logstash-core.jar", 700), imagetest.Sized("usr/share/logstash/bin/logstash", 300)},
			"Logstash in /usr/share/logstash ", 1000},
		{"Go", []imagetest.Entry{imagetest.Sized("usr/local/go/pkg/tool/linux_amd64/compile", 1000), imagetest.Sized("usr/local/go/bin/go", 100)},
			"a Go toolchain in /usr/local/go ", 1100},
		{"node is not heavy", []imagetest.Entry{imagetest.Sized("usr/local/bin/node", big)}, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			layers := []testimage.Layer{
				imagetest.Layer(imagetest.Gzip, imagetest.File("etc/passwd", passwd)),
				imagetest.Layer(imagetest.Gzip, tc.entries...),
			}
			r := mustAnalyze(t, layers, imagetest.Config{User: "app", Cmd: []string{"/app"}})
			fs := find(r.Findings, RuleHeavy)
			switch {
			case tc.want == "" && len(fs) > 0:
				t.Errorf("GC010 fired: %s", dump(fs))
			case tc.want == "":
			case len(fs) != 1:
				t.Errorf("%d GC010 findings, want one saying %q: %s", len(fs), tc.want, dump(r.Findings))
			case !strings.HasPrefix(fs[0].Message, tc.want) || fs[0].Bytes != tc.bytes:
				t.Errorf("GC010 %q at %d bytes, want %q at %d", fs[0].Message, fs[0].Bytes, tc.want, tc.bytes)
			case fs[0].Layer != r.Layers[1].Digest.String():
				t.Errorf("GC010 names layer %s, want layer 2", fs[0].Layer)
			}
		})
	}
}

// TestHeavyRuntime checks that a component the image runs is its runtime,
// not a finding (the catalogue's unless-runs): a Java runtime under
// CMD ["java", ...]; a JDK stays one.
func TestHeavyRuntime(t *testing.T) {
	jre := []imagetest.Entry{imagetest.Sized("opt/java/openjdk/lib/server/libjvm.so", 1000), imagetest.Sized("app/app.jar", 100)}
	jdk := append(slices.Clone(jre), imagetest.Sized("opt/java/openjdk/lib/ct.sym", 100))
	for _, tc := range []struct {
		name    string
		entries []imagetest.Entry
		cfg     imagetest.Config
		want    string
	}{
		{"a Java runtime the CMD runs", jre, imagetest.Config{User: "app", Cmd: []string{"java", "-jar", "/app/app.jar"}}, ""},
		{"a Java runtime run through sh -c", jre, imagetest.Config{User: "app", Cmd: []string{"sh", "-c", "exec /opt/java/openjdk/bin/java -jar /app/app.jar"}}, ""},
		{"a Java runtime nothing runs", jre, imagetest.Config{User: "app", Cmd: []string{"/app/server"}}, "a Java runtime in /opt/java/openjdk "},
		{"a JDK the CMD runs", jdk, imagetest.Config{User: "app", Cmd: []string{"java", "-jar", "/app/app.jar"}}, "a JDK in /opt/java/openjdk "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			layers := []testimage.Layer{
				imagetest.Layer(imagetest.Gzip, imagetest.File("etc/passwd", passwd)),
				imagetest.Layer(imagetest.Gzip, tc.entries...),
			}
			r := mustAnalyze(t, layers, tc.cfg)
			fs := find(r.Findings, RuleHeavy)
			switch {
			case tc.want == "" && len(fs) > 0:
				t.Errorf("GC010 fired: %s", dump(fs))
			case tc.want != "" && (len(fs) != 1 || !strings.HasPrefix(fs[0].Message, tc.want)):
				t.Errorf("GC010 %s, want one saying %q", dump(fs), tc.want)
			}
		})
	}
}
