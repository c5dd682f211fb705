#include "genai_rt/version.h"

#ifndef GENAI_RT_VERSION_STRING
#define GENAI_RT_VERSION_STRING "0.1.0"
#endif

namespace genai_rt {

const char* Version() { return GENAI_RT_VERSION_STRING; }

}  // namespace genai_rt
