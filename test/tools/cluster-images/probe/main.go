// Command probe is the workload of the cluster harness's own test (test/cluster/cluster.test.ts):
//
//	probe serve ADDR           answers every request with $MESSAGE and logs one line per request
//	probe get URL              prints the status and body of a GET (what a pod sees of a Service)
//	probe get-api PATH         GETs PATH from the API server through the in-cluster `kubernetes` Service,
//	                           with the pod's service-account token and CA, as in-cluster clients do
//
// A static Go binary keeps the image a few megabytes built from bytes, with no base image to pull.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func main() {
	if len(os.Args) != 3 {
		fail("usage: probe serve ADDR | get URL | get-api PATH")
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2])
	case "get":
		get(http.DefaultClient, os.Args[2], "")
	case "get-api":
		getAPI(os.Args[2])
	default:
		fail("unknown command " + os.Args[1])
	}
}

func serve(addr string) {
	message := os.Getenv("MESSAGE")
	server := &http.Server{
		Addr:              addr,
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Printf("probe: %s %s from %s\n", r.Method, r.URL.Path, r.RemoteAddr)
			_, _ = io.WriteString(w, message)
		}),
	}
	go func() {
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
		<-signals
		_ = server.Close()
	}()
	fmt.Printf("probe: serving %q on %s\n", message, addr)
	if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fail(err.Error())
	}
}

func getAPI(path string) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		fail("KUBERNETES_SERVICE_HOST/PORT not set")
	}
	token, err := os.ReadFile(serviceAccountDir + "/token")
	if err != nil {
		fail(err.Error())
	}
	caPEM, err := os.ReadFile(serviceAccountDir + "/ca.crt")
	if err != nil {
		fail(err.Error())
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		fail("no certificate in ca.crt")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	get(client, "https://"+net.JoinHostPort(host, port)+path, strings.TrimSpace(string(token)))
}

func get(client *http.Client, url, bearer string) {
	client.Timeout = 10 * time.Second
	request, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		fail(err.Error())
	}
	if bearer != "" {
		request.Header.Set("Authorization", "Bearer "+bearer)
	}
	response, err := client.Do(request)
	if err != nil {
		fail(err.Error())
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		fail(err.Error())
	}
	fmt.Printf("%d %s\n", response.StatusCode, body)
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, "probe: "+message)
	os.Exit(1)
}
