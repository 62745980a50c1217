#ifndef RECKON_LIBXML2_SHIM_H
#define RECKON_LIBXML2_SHIM_H
/* Debian's libxml2 is built with ICU, and its encoding.h then includes the system ICU headers,
   whose UErrorCode clashes with Foundation's own ICU module in any Swift file that sees both.
   Reckon never touches libxml2's encoding handlers (the only structs that change), so it reads
   the headers as if ICU were off. */
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/xmlreader.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>

/* xmlFree is a C global function pointer; Swift 6 refuses to touch it directly. */
static inline void reckon_xml_free(void *p) { xmlFree(p); }

/* Silence libxml2's default error printer (it writes to stderr by itself);
   errors are read back through xmlTextReaderSetErrorHandler instead. */
static void reckon_xml_ignore_generic(void *ctx, const char *msg, ...) { (void)ctx; (void)msg; }
static inline void reckon_xml_silence_generic_errors(void) {
    xmlSetGenericErrorFunc(NULL, reckon_xml_ignore_generic);
}
#endif
