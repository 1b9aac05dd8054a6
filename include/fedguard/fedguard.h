// Everything a user of the C++ API includes.
#pragma once

#include "fedguard/config.h"
#include "fedguard/dtype.h"
#include "fedguard/engine.h"
#include "fedguard/error.h"
#include "fedguard/round.h"
#include "fedguard/update_view.h"
