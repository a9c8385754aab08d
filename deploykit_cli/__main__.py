from deploykit_cli.app import main

main()
