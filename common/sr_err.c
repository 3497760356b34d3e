/* sr_strerror and sr_errname, generated from the SR_ERRNO_MAP table. */
#include "snowrange/error.h"

const char *
sr_strerror(int err)
{
	switch (err) {
#define SR_ERR_DESC(name, value, desc) \
	case value: return desc;
		SR_ERRNO_MAP(SR_ERR_DESC)
#undef SR_ERR_DESC
	}
	return "unknown error";
}

const char *
sr_errname(int err)
{
	switch (err) {
#define SR_ERR_NAME(name, value, desc) \
	case value: return #name;
		SR_ERRNO_MAP(SR_ERR_NAME)
#undef SR_ERR_NAME
	}
	return "EUNKNOWN";
}
