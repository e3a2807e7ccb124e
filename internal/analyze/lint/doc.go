// Package lint checks Dockerfiles for images that are heavy, drift, run
// several processes or are insecure: the rules of `gantry lint`, documented
// with examples in docs/rules.md.
//
// A Dockerfile is parsed with BuildKit's parser, so heredocs, parser
// directives and current flags parse as they do in `docker build`; RUN
// programs are parsed with mvdan.cc/sh. Before any rule runs, the file is
// loaded into a model in which every instruction knows its stage (name,
// index, whether it ships or is only copied from), the ARG and ENV values
// in force, the WORKDIR and the SHELL. That is what lets rules about
// package caches and heavy components stay quiet in builder stages, where
// they cost nothing, and under RUN --mount=type=cache.
//
// Rule IDs are stable and grouped by family: GL1xx base images, GL2xx
// processes, GL3xx heavy components, GL4xx package managers, GL5xx layers,
// GL6xx instructions, GL7xx shell, GL9xx structure.
package lint
