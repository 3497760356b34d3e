/* sr_version: the version the library was built as (include/snowrange/version.h). */
#include "snowrange/version.h"

const char *
sr_version(void)
{
	return SNOWRANGE_VERSION_STRING;
}
