// Package testkit is the plumbing that tests of many packages share: a log
// buffer that concurrent writers may use, a clock the test moves, an HTTP
// helper and the scaffolding of the vendors' fakes.
//
// Any package's tests may import it. It imports the standard library only,
// never the domain or an adapter, so that importing it cannot make a cycle.
package testkit
