// An HTTP server on 127.0.0.1 (a port the kernel picks) that answers every
// request; says "ready PORT". Section 6 of bench/run moves it while it
// serves, and checks that it still answers.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("ready %d\n", l.Addr().(*net.TCPAddr).Port)
	http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	}))
}
