#include <cstdio>
int main() { std::puts("joule: under construction"); return 0; }
