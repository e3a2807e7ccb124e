package lint_test

import (
	"fmt"

	"github.com/gantry-dev/gantry/internal/analyze/lint"
)

func ExampleLint() {
	dockerfile := `FROM golang:1.22 AS build
RUN apt-get update && apt-get install -y build-essential

FROM debian:12
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates
COPY --from=build /out/app /app
USER 10001
HEALTHCHECK NONE
CMD ["supervisord", "-n"]
`
	findings, err := lint.Lint("Dockerfile", []byte(dockerfile), lint.Options{
		Config: lint.Config{Digests: "ignore"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range findings {
		fmt.Println(f.Location(), f.Severity, f.Rule)
	}
	// The builder stage's build-essential and apt lists are not reported:
	// that stage does not ship.

	// Output:
	// Dockerfile:5:1 warning GL401
	// Dockerfile:5:1 info GL410
	// Dockerfile:9:1 error GL201
}
