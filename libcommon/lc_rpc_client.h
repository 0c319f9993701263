/*
 * lc_rpc_client: calls to another service over NNG REQ.
 *
 * One socket per peer service, shared by all threads; each call opens its
 * own nng_ctx, so concurrent calls never wait for one another. REQ's resend
 * is disabled: a resend would run a POST twice, possibly on another replica
 * (DESIGN §13). A call distinguishes "no peer is connected" (the callee is
 * down: fail fast, 503) from "the peer did not answer in time" (504).
 */
#ifndef LC_RPC_CLIENT_H
#define LC_RPC_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "lc_envelope.h"

typedef struct lc_rpc_client lc_rpc_client;

typedef enum {
    LC_RPC_OK = 0,
    LC_RPC_TIMEOUT,   /* connected, but no reply before the deadline */
    LC_RPC_NO_PEER,   /* nothing listening / connection down */
    LC_RPC_BAD_REPLY, /* the reply is not a valid envelope or message */
    LC_RPC_ERROR,     /* the callee answered with a non-200 status */
    LC_RPC_INTERNAL,  /* out of memory or a local NNG failure */
} lc_rpc_status;

/*
 * The process's client identity for tls+tcp:// URLs (mutual TLS, README
 * "Internal calls"): `cert_file` holds its certificate chain, `key_file`
 * its private key (the same file when both are in one PEM), `ca_file` the
 * CAs whose certificates a callee may present. Without a certificate
 * (cert_file NULL) a client still verifies the callee but presents none,
 * and a callee that requires one cuts it off: only tools use that. Call it
 * once, before any lc_rpc_client_open(); 0, or -1 with a reason in `err`.
 */
int lc_rpc_client_tls(const char *cert_file, const char *key_file,
                      const char *ca_file, char *err, size_t errlen);

/*
 * Starts dialing `url` in the background; NULL with `err` on a bad URL. A
 * tls+tcp:// URL uses the identity of lc_rpc_client_tls() (an error without
 * one) and checks that the callee's certificate names the URL's host.
 */
lc_rpc_client *lc_rpc_client_open(const char *url, size_t max_message,
                                  char *err, size_t errlen);
void lc_rpc_client_close(lc_rpc_client *c);

/*
 * Sends `req` (its timeout_ms is set from `deadline_ms`, lc_clock_mono_ms()
 * scale) and waits for the reply, which the caller frees with
 * lc_envelope_free_response(). Safe from any thread.
 */
lc_rpc_status lc_rpc_call(lc_rpc_client *c, lc_request *req,
                          int64_t deadline_ms, lc_response **out);

/* Sends bytes as they are, for tools and tests that must send what a
 * well-behaved client never would. The reply is decoded like lc_rpc_call's. */
lc_rpc_status lc_rpc_call_raw(lc_rpc_client *c, const void *buf, size_t len,
                              int64_t deadline_ms, lc_response **out);

/*
 * An internal RPC: path "/rpc/<method>", origin INTERNAL, `in` as body.
 * On LC_RPC_OK, *out is the decoded reply (free it with
 * lc_envelope_free_message()); on LC_RPC_ERROR, *status is the callee's.
 */
lc_rpc_status lc_rpc_call_method(lc_rpc_client *c, const char *method,
                                 const char *request_id, const char *tenant_id,
                                 const ProtobufCMessage *in,
                                 const ProtobufCMessageDescriptor *out_desc,
                                 int64_t deadline_ms, ProtobufCMessage **out,
                                 int *status);

const char *lc_rpc_status_text(lc_rpc_status st);

#endif
