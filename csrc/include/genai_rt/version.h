// \brief Build facts of the native core, readable without Python.
#pragma once

namespace genai_rt {

/// \brief Version string of the core (the Python package's version at build time).
const char* Version();

}  // namespace genai_rt
