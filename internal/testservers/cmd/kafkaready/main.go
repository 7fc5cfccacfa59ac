// Command kafkaready exits 0 when a Kafka cluster serves requests (see
// testservers.KafkaReady), else prints why and exits 1. scripts/testenv
// polls it while the test broker starts.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/engine-audit/engine/internal/testservers"
)

func main() {
	brokers := flag.String("brokers", testservers.DefaultKafkaBrokers, "comma-separated bootstrap brokers")
	timeout := flag.Duration("timeout", 5*time.Second, "how long to wait for an answer")
	flag.Parse()
	if err := testservers.KafkaReady(strings.Split(*brokers, ","), *timeout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
