/*
 * invoice_pdf.h: an invoice as a PDF (libharu), for GET
 * /api/billing/invoices/{id}.pdf: the tenant, the number and dates, the
 * lines and the total; and a credit note, the same way, for GET
 * /api/billing/credit-notes/{id}.pdf.
 */
#ifndef BILLING_INVOICE_PDF_H
#define BILLING_INVOICE_PDF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *description;
    int64_t quantity, unit_price, amount; /* minor units */
} invoice_pdf_line;

typedef struct {
    const char *title;    /* "Credit note"; NULL: "Invoice" */
    const char *tenant;   /* the tenant's slug */
    const char *number;   /* "7" */
    const char *status;   /* open | paid */
    const char *issued;   /* YYYY-MM-DD */
    const char *period_start, *period_end;
    const char *plan;     /* "team v1" */
    const char *currency; /* ISO 4217: amounts are shown with 2 decimals */
    int64_t total;
    const invoice_pdf_line *lines;
    size_t nlines;
} invoice_pdf;

/* Renders `inv` into a malloc'd buffer (*out, *len); 0, or -1 (libharu
 * failed: out of memory). */
int invoice_pdf_render(const invoice_pdf *inv, unsigned char **out,
                       size_t *len);

/* "1234.56 USD" (minor units with two decimals), into `out`. */
void invoice_pdf_money(int64_t minor, const char *currency, char *out,
                       size_t len);

#endif
