# Turns a file into a C array (cmake -DIN=... -DOUT=... -DNAME=... -P
# embed.cmake): the status page is kept as plain HTML in the tree and
# compiled in, with no string literal length limits (-Wpedantic).
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT} "/* Generated from ${IN} by cmake/embed.cmake. */\n"
  "#include <stddef.h>\n"
  "const unsigned char ${NAME}[] = {${body}0x00};\n"
  "const size_t ${NAME}_len = ${len};\n")
