// Command htpasswd prints an htpasswd line with a bcrypt hash (cost 10,
// htpasswd -B's default) for each USER PASSWORD pair, for benchmarks on
// machines without apache2-utils.
//
//	htpasswd USER PASSWORD [USER PASSWORD...]
package main

import (
	"fmt"
	"os"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	if len(os.Args) < 3 || len(os.Args)%2 == 0 {
		fmt.Fprintln(os.Stderr, "usage: htpasswd USER PASSWORD [USER PASSWORD...]")
		os.Exit(2)
	}
	for i := 1; i < len(os.Args); i += 2 {
		h, err := bcrypt.GenerateFromPassword([]byte(os.Args[i+1]), bcrypt.DefaultCost)
		if err != nil {
			fmt.Fprintln(os.Stderr, "htpasswd:", err)
			os.Exit(1)
		}
		fmt.Printf("%s:%s\n", os.Args[i], h)
	}
}
