package image

import (
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/analyze/image/imagetest"
	"github.com/gantry-dev/gantry/internal/testimage"
)

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
		{"JDK by its lib/modules", []imagetest.Entry{imagetest.Sized("opt/java/openjdk/lib/modules", big), imagetest.Sized("opt/java/openjdk/bin/java", 100)},
			"JVM (JDK/JRE) in /opt/java/openjdk ", big + 100},
		{"a small file named modules", []imagetest.Entry{imagetest.Sized("opt/app/lib/modules", 100)}, "", 0},
		{"Firefox", []imagetest.Entry{imagetest.Sized("usr/lib/firefox-esr/libxul.so", big), imagetest.Sized("usr/lib/firefox-esr/firefox-esr", 1000)},
			"Firefox browser in /usr/lib/firefox-esr ", big + 1000},
		{"Playwright's browsers", []imagetest.Entry{
			imagetest.Sized("root/.cache/ms-playwright/chromium-1105/chrome-linux/chrome", big),
			imagetest.Sized("root/.cache/ms-playwright/firefox-1440/firefox/libxul.so", big),
			imagetest.Sized("root/.cache/ms-playwright/webkit-1983/minibrowser-wpe/lib/libWPEWebKit-1.1.so.0", big),
		}, "Playwright browsers in /root/.cache/ms-playwright ", 3 * big},
		{"Playwright's browsers at PLAYWRIGHT_BROWSERS_PATH", []imagetest.Entry{imagetest.Sized("ms-playwright/chromium_headless_shell-1155/chrome-linux/headless_shell", big)},
			"Playwright browsers in /ms-playwright ", big},
		{"Puppeteer's browser", []imagetest.Entry{imagetest.Sized("home/pptruser/.cache/puppeteer/chrome/linux-121.0.6167.85/chrome-linux64/chrome", big)},
			"Puppeteer browsers in /home/pptruser/.cache/puppeteer ", big},
		{"Android SDK", []imagetest.Entry{
			imagetest.Sized("opt/android-sdk/platforms/android-34/android.jar", 5000),
			imagetest.Sized("opt/android-sdk/build-tools/34.0.0/aapt2", 3000),
			imagetest.Sized("opt/android-sdk/cmdline-tools/latest/bin/sdkmanager", 100),
		}, "Android SDK in /opt/android-sdk ", 8100},
		{"Android command-line tools", []imagetest.Entry{imagetest.Sized("sdk/cmdline-tools/latest/bin/sdkmanager", 100), imagetest.Sized("sdk/cmdline-tools/latest/lib/x.jar", 900)},
			"Android SDK in /sdk ", 1000},
		{"adb alone", []imagetest.Entry{imagetest.Sized("usr/lib/android-sdk/platform-tools/adb", 3000)}, "", 0},
		{"OpenSearch", []imagetest.Entry{imagetest.Sized("usr/share/opensearch/lib/opensearch-2.11.0.jar", 100)}, "Elasticsearch in /usr/share/opensearch ", 100},
		{"Logstash", []imagetest.Entry{imagetest.Sized("usr/share/logstash/logstash-core/lib/jars/logstash-core.jar", 700), imagetest.Sized("usr/share/logstash/bin/logstash", 300)},
			"Logstash in /usr/share/logstash ", 1000},
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
