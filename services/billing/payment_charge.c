/*
 * payment_charge.c: asks the payment provider to charge an invoice again,
 * for a dunning retry (dunning.c). One HTTP POST to
 * LINTEL_PAYMENT_PROVIDER_URL/v1/charges with libcurl (already the users
 * service's mail client), JSON in and out, with an Idempotency-Key of the
 * invoice and the retry, so a job that runs twice never charges twice.
 * The provider answers whether the charge went through, and then sends the
 * matching signed webhook (invoice.paid or invoice.payment_failed), which
 * is what changes the invoice and the subscription (webhooks.c): the
 * answer here only decides whether the dunning goes on.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing.h"

/* A provider's reply is small: more is not its charge API. */
#define PAYMENT_REPLY_MAX 4096

typedef struct {
    char data[PAYMENT_REPLY_MAX + 1];
    size_t len;
} payment_reply;

static size_t
payment_reply_write(char *ptr, size_t size, size_t n, void *arg)
{
    payment_reply *r = arg;
    size_t len = size * n;

    if (len > PAYMENT_REPLY_MAX - r->len) {
        return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
    }
    memcpy(r->data + r->len, ptr, len);
    r->len += len;
    r->data[r->len] = '\0';
    return len;
}

/* The charge's outcome from the provider's 200 reply. */
static payment_charge_outcome
payment_reply_outcome(const payment_reply *r, char *why, size_t whylen)
{
    cJSON *json = cJSON_ParseWithLength(r->data, r->len);
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(json, "status");
    payment_charge_outcome out = PAYMENT_CHARGE_UNAVAILABLE;

    if (cJSON_IsString(status) &&
        strcmp(status->valuestring, "succeeded") == 0) {
        out = PAYMENT_CHARGE_SUCCEEDED;
    } else if (cJSON_IsString(status) &&
               strcmp(status->valuestring, "failed") == 0) {
        out = PAYMENT_CHARGE_DECLINED;
    } else {
        snprintf(why, whylen, "the payment provider's reply has no status");
    }
    cJSON_Delete(json);
    return out;
}

payment_charge_outcome
payment_charge(billing_app *app, const payment_charge_request *c, char *why,
               size_t whylen)
{
    payment_charge_outcome out = PAYMENT_CHARGE_UNAVAILABLE;
    cJSON *body = cJSON_CreateObject();
    struct curl_slist *headers = NULL;
    payment_reply reply = {.len = 0};
    char url[512], key[128];
    char *text = NULL;
    CURL *curl = NULL;
    CURLcode rc;
    long status = 0;

    snprintf(url, sizeof(url), "%s/v1/charges", app->payment_provider_url);
    snprintf(key, sizeof(key), "Idempotency-Key: %s-retry-%d", c->invoice_id,
             c->attempt);
    if (body != NULL) {
        cJSON_AddStringToObject(body, "tenant_id", c->tenant_id);
        cJSON_AddStringToObject(body, "invoice_id", c->invoice_id);
        cJSON_AddNumberToObject(body, "amount_minor", (double)c->amount_minor);
        cJSON_AddStringToObject(body, "currency", c->currency);
        text = cJSON_PrintUnformatted(body);
    }
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = headers ? curl_slist_append(headers, key) : NULL;
    curl = curl_easy_init();
    if (text == NULL || headers == NULL || curl == NULL) {
        snprintf(why, whylen, "out of memory");
        goto done;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, payment_reply_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, app->payment_provider_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        snprintf(why, whylen, "payment provider: %s", curl_easy_strerror(rc));
        goto done;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        snprintf(why, whylen, "payment provider answered %ld", status);
        goto done;
    }
    out = payment_reply_outcome(&reply, why, whylen);
done:
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    cJSON_free(text);
    cJSON_Delete(body);
    return out;
}
