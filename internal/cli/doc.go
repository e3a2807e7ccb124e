// Package cli holds gantry's cobra commands, one file per subcommand, and the
// settings they share: logging, the config file and GANTRY_* variables.
//
// Settings resolve in this order: a flag given on the command line, then the
// environment variable GANTRY_<FLAG> (upper case, "-" as "_"), then the
// config file (YAML: top-level keys are flag names; a section named after a
// subcommand, e.g. "copy:", holds that command's flags), then the default.
package cli
