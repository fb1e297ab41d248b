// Command infra is the Pulumi program of the exchange platform.
//
// Everything lives in package platform so that the end-to-end tests can run
// the very same function as an Automation API inline program: this file must
// stay a one-liner that depends on nothing but platform.Run.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crypto-exchange/exchange/infra/platform"
)

func main() {
	pulumi.Run(platform.Run)
}
