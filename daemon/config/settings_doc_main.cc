// `pccheck-settings-doc`: prints docs/settings.md, generated from the settings
// table, without needing a working pccheckd:
//   build/tests/daemon/config/pccheck-settings-doc > docs/settings.md
#include <iostream>

#include "config/settings.h"

int main() {
  std::cout << pccheck::SettingsMarkdown();
  return std::cout.good() ? 0 : 1;
}
