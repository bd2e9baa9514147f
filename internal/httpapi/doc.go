// Package httpapi is Teleconsult's HTTP adapter: the REST API compatible
// with Mia-Platform's Teleconsultation Service under [Prefix], the public
// endpoint that trades a personal link code for a call session, health and
// readiness probes, Prometheus metrics, and the API's OpenAPI document with a
// readable rendering of it.
//
// Handlers only translate: they decode a request strictly (exact field
// names, no unknown or duplicate keys, one JSON value, a size limit), call
// one method of [teleconsult.Service], and encode its result or map its
// error code to a status with one table. Every rule lives in the domain.
//
// Who may call: every route under [Prefix] but POST /sessions needs
// "Authorization: Bearer <api key>". Such a trusted caller acts for the user
// found by walking userIdPathInRequest over the request's headers; without a
// valid API key, headers never carry identity.
//
// Logs hold one line per request (request id, method, route pattern,
// status, duration) and never a URL, body, name, email, link code, token or
// key.
package httpapi
