// Catch2 2 (Debian 12) and Catch2 3 (Ubuntu 24.04) behind one include.
#pragma once
#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
