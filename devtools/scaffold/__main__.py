from devtools.scaffold import main

main()
