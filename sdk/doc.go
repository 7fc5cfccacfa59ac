// Package sdk is the public contract between engine and its plugins.
//
// Every component of a pipeline — input, processor or output — is a plugin.
// Built-in plugins and third-party plugins implement exactly the same
// interfaces, declared here:
//
//   - Event is one document, shaped like the Elastic Common Schema: a
//     timestamp, a deterministic id and a sorted list of dotted fields.
//   - Batch is the unit that moves between components. It carries the
//     acknowledgements (Ack) of the input data it was built from, so that an
//     input learns when what it read has been delivered.
//   - Input, Processor and Output are the three component interfaces. An
//     output writes one batch and classifies the result: nil, Retryable,
//     Permanent, or a PartialError naming the events to retry and those
//     refused for good (Rejection). Retries, backoff, buffering, dead
//     letters and acknowledgements are the core's; an output that can take
//     several writes at once says so with ConcurrentOutput.
//   - Plugin describes a component type: its documentation, its config schema
//     (Option) and its constructor. The core decodes a pipeline block against
//     the schema, so that every configuration error is reported with file,
//     line and column, and hands the plugin a decoded Config.
//
// Built-in plugins register themselves with Register in an init function.
package sdk
