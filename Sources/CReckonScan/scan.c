/* The module is its header (reckon_scan.h); a C target needs one source file. */
#include "reckon_scan.h"
