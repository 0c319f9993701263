/*
 * invoice_pdf.c: one A4 page per invoice with libharu's base-14 Helvetica
 * (no font files to ship). Text is drawn in WinAnsi, so bytes outside
 * ASCII (a description in another script) are shown as '?' rather than as
 * the wrong letters. libharu reports errors through a handler; this one
 * records the first, and rendering is abandoned when one was recorded.
 */
#include <hpdf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "invoice_pdf.h"

typedef struct {
    HPDF_STATUS error;
} invoice_pdf_state;

static void
invoice_pdf_error(HPDF_STATUS error, HPDF_STATUS detail, void *arg)
{
    invoice_pdf_state *st = arg;

    (void)detail;
    if (st->error == 0) {
        st->error = error;
    }
}

void
invoice_pdf_money(int64_t minor, const char *currency, char *out, size_t len)
{
    uint64_t abs = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;

    snprintf(out, len, "%s%" PRIu64 ".%02" PRIu64 " %s", minor < 0 ? "-" : "",
             abs / 100, abs % 100, currency);
}

/* `s` with every byte outside printable ASCII as '?', at most len - 1. */
static void
invoice_pdf_ascii(const char *s, char *out, size_t len)
{
    size_t i;

    for (i = 0; s[i] != '\0' && i + 1 < len; i++) {
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    }
    out[i] = '\0';
}

static void
invoice_pdf_text(HPDF_Page page, HPDF_Font font, float size, float x, float y,
                 const char *s)
{
    char buf[320];

    invoice_pdf_ascii(s, buf, sizeof(buf));
    HPDF_Page_BeginText(page);
    HPDF_Page_SetFontAndSize(page, font, size);
    HPDF_Page_TextOut(page, x, y, buf);
    HPDF_Page_EndText(page);
}

/* Right-aligned at x. */
static void
invoice_pdf_text_right(HPDF_Page page, HPDF_Font font, float size, float x,
                       float y, const char *s)
{
    HPDF_Page_SetFontAndSize(page, font, size);
    invoice_pdf_text(page, font, size, x - HPDF_Page_TextWidth(page, s), y, s);
}

static void
invoice_pdf_page(HPDF_Doc pdf, const invoice_pdf *inv)
{
    HPDF_Page page = HPDF_AddPage(pdf);
    HPDF_Font font = HPDF_GetFont(pdf, "Helvetica", NULL);
    HPDF_Font bold = HPDF_GetFont(pdf, "Helvetica-Bold", NULL);
    char buf[320], money[48];
    float y = 780;
    size_t i;

    HPDF_Page_SetSize(page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    snprintf(buf, sizeof(buf), "%s %s", inv->title ? inv->title : "Invoice",
             inv->number);
    invoice_pdf_text(page, bold, 22, 50, y, buf);
    invoice_pdf_text(page, font, 10, 400, y + 6, "Lintel");
    y -= 36;
    snprintf(buf, sizeof(buf), "Billed to: %s", inv->tenant);
    invoice_pdf_text(page, font, 11, 50, y, buf);
    y -= 16;
    snprintf(buf, sizeof(buf), "Issued: %s    Status: %s", inv->issued,
             inv->status);
    invoice_pdf_text(page, font, 11, 50, y, buf);
    y -= 16;
    snprintf(buf, sizeof(buf), "Period: %s to %s (the day before %s)",
             inv->period_start, inv->period_end, inv->period_end);
    invoice_pdf_text(page, font, 11, 50, y, buf);
    y -= 16;
    snprintf(buf, sizeof(buf), "Plan: %s", inv->plan);
    invoice_pdf_text(page, font, 11, 50, y, buf);
    y -= 34;
    invoice_pdf_text(page, bold, 10, 50, y, "Description");
    invoice_pdf_text_right(page, bold, 10, 400, y, "Quantity");
    invoice_pdf_text_right(page, bold, 10, 470, y, "Unit price");
    invoice_pdf_text_right(page, bold, 10, 545, y, "Amount");
    y -= 6;
    HPDF_Page_MoveTo(page, 50, y);
    HPDF_Page_LineTo(page, 545, y);
    HPDF_Page_Stroke(page);
    for (i = 0; i < inv->nlines && y > 120; i++) {
        const invoice_pdf_line *l = &inv->lines[i];

        y -= 16;
        invoice_pdf_ascii(l->description, buf, 60);
        invoice_pdf_text(page, font, 9, 50, y, buf);
        snprintf(buf, sizeof(buf), "%" PRId64, l->quantity);
        invoice_pdf_text_right(page, font, 9, 400, y, buf);
        invoice_pdf_money(l->unit_price, inv->currency, money, sizeof(money));
        invoice_pdf_text_right(page, font, 9, 470, y, money);
        invoice_pdf_money(l->amount, inv->currency, money, sizeof(money));
        invoice_pdf_text_right(page, font, 9, 545, y, money);
    }
    y -= 10;
    HPDF_Page_MoveTo(page, 300, y);
    HPDF_Page_LineTo(page, 545, y);
    HPDF_Page_Stroke(page);
    y -= 18;
    invoice_pdf_money(inv->total, inv->currency, money, sizeof(money));
    snprintf(buf, sizeof(buf), "Total: %s", money);
    invoice_pdf_text_right(page, bold, 12, 545, y, buf);
}

int
invoice_pdf_render(const invoice_pdf *inv, unsigned char **out, size_t *len)
{
    invoice_pdf_state st = {0};
    HPDF_Doc pdf = HPDF_New(invoice_pdf_error, &st);
    HPDF_UINT32 size;
    unsigned char *buf = NULL;

    *out = NULL;
    *len = 0;
    if (pdf == NULL) {
        return -1;
    }
    HPDF_SetInfoAttr(pdf, HPDF_INFO_CREATOR, "Lintel billing");
    invoice_pdf_page(pdf, inv);
    if (st.error == 0 && HPDF_SaveToStream(pdf) == HPDF_OK) {
        HPDF_STATUS rs;

        size = HPDF_GetStreamSize(pdf);
        buf = malloc(size > 0 ? size : 1);
        /* reading the whole stream may end with its EOF: not an error */
        rs = buf ? HPDF_ReadFromStream(pdf, buf, &size) : HPDF_FAILD_TO_ALLOC_MEM;
        if (rs != HPDF_OK && rs != HPDF_STREAM_EOF) {
            free(buf);
            buf = NULL;
        }
    } else {
        st.error = st.error ? st.error : HPDF_INVALID_DOCUMENT;
    }
    HPDF_Free(pdf);
    if (buf == NULL || (st.error != 0 && st.error != HPDF_STREAM_EOF)) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = size;
    return 0;
}
