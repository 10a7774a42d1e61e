from llm_exporter.cli import main

raise SystemExit(main())
