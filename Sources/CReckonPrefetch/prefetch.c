/* The module is its header (reckon_prefetch.h); a C target needs one source file. */
#include "reckon_prefetch.h"
