from inrcli.cli import main

main()
