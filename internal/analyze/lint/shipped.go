package lint

import (
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// Instruction is one instruction of the stages a Dockerfile ships, as
// gantry check needs it to link instructions to an image's layers.
type Instruction struct {
	// Keyword is the upper-case instruction keyword: FROM, RUN, COPY...
	Keyword string
	// Line and EndLine are the instruction's first and last lines, from 1
	// (a heredoc's body is part of its instruction).
	Line, EndLine int
	// Stage is the index of the instruction's stage.
	Stage int
	// Command is, for RUN, the command as BuildKit records it in the
	// history (the shell text, or the exec-form arguments joined by
	// spaces); for COPY and ADD, the destination made absolute with the
	// WORKDIR in force and variables resolved; for FROM, the base image
	// with variables resolved; else the instruction's arguments as written.
	Command string
	// Exec is true for an exec-form (JSON array) RUN.
	Exec bool
}

// Shipped parses a Dockerfile and returns the instructions of the stages
// the image is built from, in order: the final stage and the stages it is
// built FROM, each starting with its FROM. Instructions BuildKit rejects
// are left out. It fails with a *ParseError as Lint does.
func Shipped(name string, src []byte, opts Options) ([]Instruction, error) {
	_, ins, err := run(name, src, opts, true)
	return ins, err
}

// shippedRecords returns the records of the shipped stages.
func (d *dockerfile) shippedRecords() []Instruction {
	if len(d.stages) == 0 {
		return nil
	}
	var out []Instruction
	for _, s := range d.stages[len(d.stages)-1].chain() {
		out = append(out, s.records...)
	}
	return out
}

// record is the Instruction of in, an instruction of a stage that BuildKit
// accepts, made while its node is at hand.
func record(d *dockerfile, in *instr) Instruction {
	s := in.stage
	x := Instruction{Keyword: strings.ToUpper(in.kind), Line: in.line, EndLine: in.end, Stage: s.index}
	switch c := in.cmd.(type) {
	case *instructions.Stage:
		x.Command = s.base
	case *instructions.RunCommand:
		x.Command, x.Exec = strings.Join(c.CmdLine, " "), !c.PrependShell
	case *instructions.CopyCommand:
		x.Command = absDest(d, in, c.DestPath)
	case *instructions.AddCommand:
		x.Command = absDest(d, in, c.DestPath)
	default:
		var args []string
		for n := in.node.Next; n != nil; n = n.Next {
			args = append(args, n.Value)
		}
		x.Command = strings.Join(args, " ")
	}
	return x
}
